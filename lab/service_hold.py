"""Containment of a Swarm service: constrain it to no node, keeping its spec and its containers, and
give it back exactly.

A task's container cannot be contained the Docker way: the orchestrator owns it, and replaces a task
that leaves its networks or stops answering. What stops a service from running is its spec. Two
ways were measured on the lab engine (dockerd 20.10):

- ``replicas: 0`` removes the tasks, and the orchestrator removes their containers with them (gone
  two seconds after the update): the workload's filesystem and logs are destroyed. Not used.
- a placement constraint on a node label no node carries (``HOLD_LABEL==<service id>``) is an update
  like any other: each task is shut down with the service's stop signal and grace period, its
  container stays on the node, stopped, in the orchestrator's task history, and the replacement
  task waits "pending" for a node that will never come. Used, for replicated and global services.

Everything else in the spec stays as it was, so the spec the attacker deployed is still there to
read (``docker service inspect``), and the record keeps a copy taken before anything changed.
Freezing the containers first, and collecting what only a live process has, is the responder's part
(it pauses them before it holds the service: ``lab.quarantine.pause``).

``release`` puts the recorded placement back and waits until the orchestrator runs as many tasks as
before.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import docker.errors

from lab.errors import LabError
from lab.quarantine import HOLD_SERVICE, ContainmentRecord, Journal

SERVICE_REF = "service:"
# A node label no node carries: a service constrained on it runs nowhere. The value is the service's
# id, so two held services never share a constraint a human might add to a node.
HOLD_LABEL = "node.labels.stowaway-hold"
CONVERGE_S = 60.0  # a task's stop grace period (10 s by default) fits well inside


def _inspect(client: Any, service_id: str) -> dict[str, Any]:
    try:
        return dict(client.api.inspect_service(service_id))
    except docker.errors.NotFound as exc:
        raise LabError(f"no service {service_id!r} on the engine") from exc


def _tasks(client: Any, service_id: str) -> list[dict[str, Any]]:
    return list(client.api.tasks(filters={"service": service_id}))


def _container(task: dict[str, Any]) -> str:
    return str(((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID") or "")


def running_tasks(client: Any, service_id: str) -> list[dict[str, str]]:
    """The service's tasks the orchestrator means to run and runs now, with their containers: its
    word, not labels (a container's Swarm labels are anyone's to set)."""
    return [{"task": str(t.get("ID", "")), "container": _container(t)} for t in _tasks(client, service_id)
            if t.get("DesiredState") == "running" and (t.get("Status") or {}).get("State") == "running"]


def still_running(client: Any, service_id: str) -> list[dict[str, str]]:
    """Tasks whose container still runs, whatever the orchestrator now wants of them (a task being
    shut down runs until its stop signal and grace period are through)."""
    return [{"task": str(t.get("ID", "")), "container": _container(t), "desired": str(t.get("DesiredState", ""))}
            for t in _tasks(client, service_id) if (t.get("Status") or {}).get("State") == "running"]


def service_running(client: Any, container_id: str, service_ids: list[str]) -> str | None:
    """Which of these services the orchestrator runs this container for (a task of it), if any."""
    for service_id in service_ids:
        try:
            tasks = running_tasks(client, service_id)
        except docker.errors.APIError:
            continue  # gone, or not a manager: not one the orchestrator vouches for
        if any(t["container"] and t["container"].startswith(container_id) for t in tasks):
            return service_id
    return None


def _mode(spec: dict[str, Any]) -> tuple[str, int | None]:
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        return "global", None
    return "replicated", int(((mode.get("Replicated") or {}).get("Replicas")) or 0)


def _placement(spec: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy((spec.get("TaskTemplate") or {}).get("Placement") or {})


def _wait(probe: Callable[[], list[dict[str, str]]], done: Callable[[list[dict[str, str]]], bool],
          timeout_s: float) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if done(found) or time.monotonic() >= deadline:
            return found
        time.sleep(0.3)


def _container_states(client: Any, containers: list[str]) -> list[dict[str, str]]:
    states = []
    for container in containers:
        try:
            status = str(client.api.inspect_container(container)["State"]["Status"])
        except docker.errors.NotFound:
            status = "removed"
        states.append({"container": container, "status": status})
    return states


def hold_service(client: Any, service_id: str, journal: Journal | None = None,
                 timeout_s: float = CONVERGE_S) -> ContainmentRecord:
    """Constrain the service to no node and wait until none of its containers runs. ``journal`` is
    told the record before anything changes. The record's ``at`` is when none ran any more;
    ``after["running"]`` lists the tasks still running when ``timeout_s`` ran out, ``after["kept"]``
    the state of the containers it ran (stopped, not removed), ``after["pending"]`` how many tasks
    the orchestrator wants and cannot place.

    Raises:
        LabError: no such service, it is held already, or the orchestrator refused the update.
    """
    attrs = _inspect(client, service_id)
    full_id, spec = attrs["ID"], attrs["Spec"]
    placement = _placement(spec)
    hold = f"{HOLD_LABEL}=={full_id}"
    if hold in (placement.get("Constraints") or []):
        raise LabError(f"service {full_id[:12]} is held already (placement {hold})")
    mode, replicas = _mode(spec)
    tasks = running_tasks(client, full_id)
    record = ContainmentRecord(ref=f"{SERVICE_REF}{full_id}", action=HOLD_SERVICE, at=0.0,
                               before={"spec": copy.deepcopy(spec), "version": attrs["Version"]["Index"],
                                       "mode": mode, "replicas": replicas, "placement": placement, "tasks": tasks},
                               after={})
    if journal is not None:
        journal(record)
    held = {**placement, "Constraints": [*(placement.get("Constraints") or []), hold]}
    try:
        client.api.update_service(full_id, attrs["Version"]["Index"], task_template={"Placement": held},
                                  fetch_current_spec=True)
    except docker.errors.APIError as exc:
        raise LabError(f"could not hold service {full_id[:12]}: {exc.explanation or exc}") from exc
    left = _wait(lambda: still_running(client, full_id), lambda found: not found, timeout_s)
    record.at = time.time()
    now = _inspect(client, full_id)["Spec"]
    pending = [t for t in _tasks(client, full_id) if t.get("DesiredState") == "running"
               and (t.get("Status") or {}).get("State") in ("pending", "new", "allocated", "assigned")]
    record.after = {"placement": _placement(now), "running": left, "pending": len(pending),
                    "kept": _container_states(client, [t["container"] for t in tasks if t["container"]]),
                    "spec_kept": same_but_placement(spec, now)}
    return record


def same_but_placement(before: dict[str, Any], now: dict[str, Any]) -> bool:
    """What the workload is (its container spec, networks, mode, labels, name, log driver, resources)
    is as it ran: everything the spec said still says the same. The engine fills defaults into a spec
    on any update (a stop grace period, an empty DNS config), so a value the spec did not set is not
    a change."""
    def core(spec: dict[str, Any]) -> dict[str, Any]:
        template = spec.get("TaskTemplate") or {}
        return {"name": spec.get("Name"), "labels": spec.get("Labels"), "mode": spec.get("Mode"),
                "container": template.get("ContainerSpec"), "networks": template.get("Networks"),
                "log_driver": template.get("LogDriver"), "resources": template.get("Resources")}
    return _said_the_same(core(before), core(now))


def _said_the_same(before: Any, now: Any) -> bool:
    if isinstance(before, dict):
        return isinstance(now, dict) and all(_said_the_same(value, now.get(key)) for key, value in before.items()
                                             if value not in (None, {}, [], ""))
    return bool(before == now)


def release(client: Any, record: ContainmentRecord, timeout_s: float = CONVERGE_S) -> dict[str, Any]:
    """Put back the recorded placement and wait for the orchestrator to run as many tasks as before
    (``release_after``: ``running``, ``wanted``, ``spec_restored``; ``gone`` when the service no
    longer exists).

    Raises:
        LabError: the orchestrator refused the update.
    """
    service_id = record.ref.removeprefix(SERVICE_REF)
    try:
        attrs = dict(client.api.inspect_service(service_id))
    except docker.errors.NotFound:
        return {"gone": True}
    placement = copy.deepcopy(record.before.get("placement") or {})
    try:
        client.api.update_service(service_id, attrs["Version"]["Index"], task_template={"Placement": placement},
                                  fetch_current_spec=True)
    except docker.errors.APIError as exc:
        raise LabError(f"could not give service {service_id[:12]} its tasks back: {exc.explanation or exc}") from exc
    mode, replicas = _mode(record.before.get("spec") or {})
    wanted = replicas if mode == "replicated" else len(record.before.get("tasks") or []) or 1
    tasks = _wait(lambda: running_tasks(client, service_id), lambda found: len(found) >= (wanted or 0), timeout_s)
    now = _inspect(client, service_id)["Spec"]
    restored = _placement(now) == placement and same_but_placement(record.before.get("spec") or {}, now)
    return {"running": tasks, "wanted": wanted, "spec_restored": restored}
