"""Swarm services and nodes as the orchestrator sees them: each change, with the spec it produced.

Swarm's own events carry only a name. This sensor follows them (``observe``) and inspects the
object on its own thread: a service's current spec and the one before it (Swarm keeps
``PreviousSpec``), and a node's labels compared with the last labels this sensor saw. Service specs
are flattened into the same ``container.*`` fields the docker sensor uses for containers, because
that is what the spec describes: the containers the orchestrator will run.
"""

from __future__ import annotations

import contextlib
import queue
from typing import Any, ClassVar

import docker
import docker.errors

from detectors.event import Event, new_event
from detectors.sensors.base import ThreadedSensor, is_bookkeeping_label


def _labels(raw: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (raw or {}).items() if not is_bookkeeping_label(k)}


def service_spec_fields(spec: dict[str, Any], network_names: dict[str, str] | None = None) -> dict[str, Any]:
    """Flatten a service spec (``Spec`` or ``PreviousSpec`` of ``docker service inspect``)."""
    template = spec.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    log_driver = template.get("LogDriver") or {}
    mounts = container.get("Mounts") or []
    placement = template.get("Placement") or {}
    names = network_names or {}
    fields: dict[str, Any] = {
        "container.image.name": str(container.get("Image", "")).split("@", 1)[0],
        "container.image.reference": container.get("Image", ""),
        "container.logging.driver": log_driver.get("Name") or "",
        "container.mounts.sources": [m.get("Source", "") for m in mounts if m.get("Type", "bind") == "bind"],
        "container.mounts.destinations": [m.get("Target", "") for m in mounts],
        "container.mounts.writable_sources": [m.get("Source", "") for m in mounts
                                              if m.get("Type", "bind") == "bind" and not m.get("ReadOnly")],
        "container.cap_add": list(container.get("CapabilityAdd") or []),
        "container.network.names": sorted(names.get(n.get("Target", ""), n.get("Target", ""))
                                          for n in template.get("Networks") or spec.get("Networks") or []),
        "container.env.keys": sorted(e.split("=", 1)[0] for e in container.get("Env") or []),
        "process.command_line": " ".join([*(container.get("Command") or []), *(container.get("Args") or [])]),
        "orchestrator.service.constraints": list(placement.get("Constraints") or []),
        "orchestrator.service.replicas": ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas"),
    }
    for key, value in (log_driver.get("Options") or {}).items():
        fields[f"container.logging.options.{key}"] = value
    for key, value in _labels(spec.get("Labels")).items():
        fields[f"orchestrator.service.labels.{key}"] = value
    return fields


# Parts of a spec a defender cares about when it changes, and the fields that make each one.
SPEC_ASPECTS = {
    "image": ("container.image.reference",),
    "logging": ("container.logging.driver",),
    "mounts": ("container.mounts.sources", "container.mounts.destinations", "container.mounts.writable_sources"),
    "capabilities": ("container.cap_add",),
    "networks": ("container.network.names",),
    "environment": ("container.env.keys",),
    "command": ("process.command_line",),
    "placement": ("orchestrator.service.constraints",),
    "replicas": ("orchestrator.service.replicas",),
}


def changed_aspects(current: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    changed = [aspect for aspect, keys in SPEC_ASPECTS.items() if any(current.get(k) != previous.get(k) for k in keys)]
    option_keys = {k for k in (*current, *previous) if k.startswith(("container.logging.options.",
                                                                     "orchestrator.service.labels."))}
    if any(current.get(k) != previous.get(k) for k in option_keys if k.startswith("container.logging.")) \
            and "logging" not in changed:
        changed.append("logging")
    if any(current.get(k) != previous.get(k) for k in option_keys if k.startswith("orchestrator.service.labels.")):
        changed.append("labels")
    return changed


def service_event(action: str, inspect: dict[str, Any], network_names: dict[str, str] | None = None) -> Event:
    spec = inspect.get("Spec") or {}
    event = new_event("swarm", "swarm.services", action)
    event["event.category"] = "configuration"
    event["orchestrator.type"] = "swarm"
    event["orchestrator.resource.type"] = "service"
    event["orchestrator.resource.id"] = inspect.get("ID", "")
    event["orchestrator.resource.name"] = spec.get("Name", "")
    event["orchestrator.service.version"] = (inspect.get("Version") or {}).get("Index", 0)
    event.update(service_spec_fields(spec, network_names))
    previous = inspect.get("PreviousSpec")
    if previous:
        before = service_spec_fields(previous, network_names)
        for key, value in before.items():
            event[f"orchestrator.service.previous.{key}"] = value
        event["orchestrator.service.changed"] = changed_aspects(event, before)
    return event


def node_event(action: str, inspect: dict[str, Any], previous_labels: dict[str, str] | None) -> Event:
    spec = inspect.get("Spec") or {}
    labels = _labels(spec.get("Labels"))
    event = new_event("swarm", "swarm.nodes", action)
    event["event.category"] = "configuration"
    event["orchestrator.type"] = "swarm"
    event["orchestrator.resource.type"] = "node"
    event["host.id"] = inspect.get("ID", "")
    event["host.name"] = (inspect.get("Description") or {}).get("Hostname", "")
    event["host.role"] = spec.get("Role", "")
    event["host.availability"] = spec.get("Availability", "")
    for key, value in labels.items():
        event[f"host.labels.{key}"] = value
    if previous_labels is not None:
        keys = sorted(k for k in {*labels, *previous_labels} if labels.get(k) != previous_labels.get(k))
        event["host.labels.changed_keys"] = keys
        for key in keys:
            if key in previous_labels:
                event[f"host.labels.previous.{key}"] = previous_labels[key]
    return event


class SwarmStateSensor(ThreadedSensor):
    name: ClassVar[str] = "swarm-state"

    def __init__(self, client: docker.DockerClient) -> None:
        super().__init__()
        self.client = client
        self._work: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._nodes: dict[str, dict[str, str]] = {}  # node id -> labels last seen

    def open(self) -> None:
        with contextlib.suppress(docker.errors.APIError):
            # A node label change is judged against the labels the node had: learn them now.
            if (self.client.info().get("Swarm") or {}).get("ControlAvailable"):
                for node in self.client.api.nodes():
                    self._nodes[node["ID"]] = _labels((node.get("Spec") or {}).get("Labels"))

    def observe(self, event: Event) -> None:
        if event.get("event.module") == "docker" and event.get("event.type") in ("service", "node") \
                and event.get("event.action") in ("create", "update"):
            self._work.put(event)

    def run(self) -> None:
        while True:
            event = self._work.get()
            if event is None:
                return
            try:
                out = self._inspect(event)
            except docker.errors.NotFound:
                self._stats.dropped += 1  # gone before we looked: nothing to judge
                continue
            except Exception: # one failed inspect must not stop the sensor
                self._stats.errors += 1
                continue
            if out is not None:
                self.send(out)

    def _image_id(self, reference: str) -> str | None:
        if not reference:
            return None
        try:
            return str(self.client.api.inspect_image(reference)["Id"])
        except Exception:  # not on this engine (a registry image not pulled yet): unknown, not guessed
            return None

    def _network_names(self) -> dict[str, str]:
        return {n["Id"]: n["Name"] for n in self.client.api.networks()}

    def _inspect(self, event: Event) -> Event | None:
        action = str(event["event.action"])
        if event.get("event.type") == "service":
            inspect = self.client.api.inspect_service(event["orchestrator.resource.id"])
            out = service_event(action, inspect, self._network_names())
            # What the spec's image reference resolves to on this engine: the id is what provenance
            # is about (a tag can point anywhere).
            image_id = self._image_id(str(out.get("container.image.name") or ""))
            if image_id:
                out["container.image.id"] = image_id
            return out
        node_id = str(event.get("host.id", ""))
        inspect = self.client.api.inspect_node(node_id)
        previous = self._nodes.get(node_id)
        self._nodes[node_id] = _labels((inspect.get("Spec") or {}).get("Labels"))
        return node_event(action, inspect, previous if previous is not None else {})

    def stop(self) -> None:
        self._work.put(None)  # wakes run(), which waits on the queue, not on the stop switch
        super().stop()
