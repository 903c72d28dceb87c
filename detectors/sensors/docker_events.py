"""Docker (and Swarm) events stream, with inspect data added on container create and start.

One thread reads the engine's event stream. Container ``create`` and ``start`` events are joined
with the container's inspect data, because the event itself carries almost nothing a defender can
judge (no log driver, no privileges, no mounts).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, ClassVar

import docker
import docker.errors

from detectors.event import Event, new_event
from detectors.sensors.base import Emit, is_bookkeeping_label
from detectors.sensors.docker_inspect import container_fields

INSPECTED_ACTIONS = {"create", "start"}


class DockerEventsSensor:
    name: ClassVar[str] = "docker-events"

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stats = {"emitted": 0, "dropped": 0, "errors": 0}

    @property
    def stats(self) -> dict[str, int]:
        return dict(self._stats)

    def start(self, emit: Emit) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(emit, ready), name=self.name, daemon=True)
        self._thread.start()
        ready.wait(10)

    def _loop(self, emit: Emit, ready: threading.Event) -> None:
        since = time.time()
        while not self._stopping.is_set():
            try:
                self._stream = self.client.events(decode=True, since=since)
                ready.set()
                for raw in self._stream:
                    since = raw.get("time", since)
                    event = self.normalise(raw)
                    if event is not None:
                        emit(event)
                        self._stats["emitted"] += 1
            except Exception:  # the stream dies with the engine: retry until told to stop
                ready.set()
                if self._stopping.is_set():
                    return
                self._stats["errors"] += 1
                time.sleep(0.5)

    def normalise(self, raw: dict[str, Any]) -> Event | None:
        kind = raw.get("Type", "")
        action = (raw.get("Action") or raw.get("status") or "").split(":", 1)[0]
        actor = raw.get("Actor") or {}
        attributes = {k: v for k, v in (actor.get("Attributes") or {}).items() if not is_bookkeeping_label(k)}
        created = raw.get("timeNano", 0) / 1e9 or raw.get("time", time.time())
        event = new_event("docker", "docker.events", action, created=created)
        event["event.type"] = kind
        event["event.original_action"] = raw.get("Action", "")
        if kind == "container":
            event["container.id"] = actor.get("ID", "")
            event["container.name"] = attributes.get("name", "")
            event["container.image.name"] = attributes.get("image", "")
            if action.startswith("exec_"):
                event["process.command_line"] = raw.get("Action", "").split(": ", 1)[-1]
            if action in INSPECTED_ACTIONS:
                try:
                    event.update(container_fields(self.client.api.inspect_container(actor.get("ID", ""))))
                except docker.errors.NotFound:
                    event["container.gone"] = True  # it died before we could look: say so, don't guess
        elif kind == "service":
            event["orchestrator.type"] = "swarm"
            event["orchestrator.resource.id"] = actor.get("ID", "")
            event["orchestrator.resource.name"] = attributes.get("name", "")
        elif kind == "node":
            event["orchestrator.type"] = "swarm"
            event["host.id"] = actor.get("ID", "")
            event["host.name"] = attributes.get("name", "")
        elif kind == "network":
            event["network.id"] = actor.get("ID", "")
            event["network.name"] = attributes.get("name", "")
            if attributes.get("container"):
                event["container.id"] = attributes["container"]
        elif kind == "image":
            event["container.image.name"] = actor.get("ID", "")
        elif kind == "daemon":
            event["host.id"] = actor.get("ID", "")
        for key, value in attributes.items():
            event.setdefault(f"docker.attributes.{key}", value)
        return event

    def stop(self) -> None:
        self._stopping.set()
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
