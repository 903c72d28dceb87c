"""Docker (and Swarm) events stream, with inspect data added on container create and start.

One thread reads the engine's event stream. Container ``create`` and ``start`` events are joined
with the container's inspect data, because the event itself carries almost nothing a defender can
judge (no log driver, no privileges, no mounts).

Inspecting happens on a few lane threads, not on the stream's: measured with six scenarios running
at once, one ``create`` inspect took up to 0.8 s while the engine was busy, and on one thread every
event behind it waited (a probe container's alert came 0.9-1.3 s after its event). Each container's
events go to one lane, chosen by its id, so a container's own events keep the engine's order; other
containers' events do not wait on its inspect. Events of no container keep the stream's thread.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import Any, ClassVar

import docker
import docker.errors

from detectors.event import Event, new_event
from detectors.sensors.base import Emit, ThreadedSensor, is_bookkeeping_label
from detectors.sensors.docker_inspect import SWARM_TASK_LABEL, container_fields

INSPECTED_ACTIONS = {"create", "start"}
TASK_VERIFY_S = 3.0  # how long the orchestrator may take to record a task's container id
LANES = 4  # inspect threads; a container's events always take the same one


def container_key(raw: dict[str, Any]) -> str:
    """The container an engine event concerns ("" for none): the lane that keeps its order."""
    actor = raw.get("Actor") or {}
    if raw.get("Type") == "container":
        return str(actor.get("ID") or "")
    if raw.get("Type") == "network":
        return str((actor.get("Attributes") or {}).get("container") or "")
    return ""


class DockerEventsSensor(ThreadedSensor):
    name: ClassVar[str] = "docker-events"

    def __init__(self, client: docker.DockerClient) -> None:
        super().__init__(extra_stats=("task_claims", "tasks_unverified"))
        self.client = client
        self._stream: Any = None
        self._ready = threading.Event()  # the stream is open (or failed once): start() may return
        self._claims: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._verifier: threading.Thread | None = None
        self._lanes: list[queue.SimpleQueue[dict[str, Any] | None]] = []
        self._lane_threads: list[threading.Thread] = []

    def start(self, emit: Emit) -> None:
        super().start(emit)
        # Whatever the caller does after start() returns is in the stream: wait until it is open.
        if self._thread is not None:
            self._ready.wait(10)

    def open(self) -> None:
        # Claims wait on the orchestrator on a thread of their own: the stream must not.
        self._verifier = threading.Thread(target=self._verify_claims, name=f"{self.name}-tasks", daemon=True)
        self._verifier.start()
        for i in range(LANES):
            lane: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
            thread = threading.Thread(target=self._drain, args=(lane,), name=f"{self.name}-lane{i}", daemon=True)
            self._lanes.append(lane)
            self._lane_threads.append(thread)
            thread.start()

    def run(self) -> None:
        since = time.time()
        while not self._stop.is_set():
            try:
                self._stream = self.client.events(decode=True, since=since)  # type: ignore[call-overload]  # the API takes a float since; stubs: int
                self._ready.set()
                for raw in self._stream:
                    since = raw.get("time", since)
                    key = container_key(raw)
                    if key and self._lanes:
                        self._lanes[hash(key) % len(self._lanes)].put(raw)
                    else:
                        self._handle(raw)
            except Exception:  # the stream dies with the engine: retry until told to stop
                self._ready.set()
                if self._stop.is_set():
                    return
                self._stats.errors += 1
                time.sleep(0.5)

    def _drain(self, lane: queue.SimpleQueue[dict[str, Any] | None]) -> None:
        while (raw := lane.get()) is not None:
            try:
                self._handle(raw)
            except Exception:  # one bad event (the engine gone mid-inspect) must not end the lane
                self._stats.errors += 1

    def _handle(self, raw: dict[str, Any]) -> None:
        event = self.normalise(raw)
        if event is not None and event.get("orchestrator.task.claimed"):
            self._claims.put(event)  # emitted once the orchestrator has answered
        elif event is not None:
            self.send(event)

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

    def _verify_claims(self) -> None:
        """A container that claims to be a Swarm task (by its labels, which anyone can set) is one
        only if the orchestrator has that task running this very container."""
        while True:
            event = self._claims.get()
            if event is None:
                return
            self._stats.extra["task_claims"] += 1
            verified = self._task_runs(str(event.get(f"container.labels.{SWARM_TASK_LABEL}") or ""),
                                       str(event.get("container.id") or ""))
            event["orchestrator.task.verified"] = verified
            if verified:
                event["orchestrator.type"] = "swarm"
            else:
                self._stats.extra["tasks_unverified"] += 1
            self.send(event)

    def _task_runs(self, task_id: str, container_id: str) -> bool:
        if not task_id or not container_id:
            return False
        deadline = time.monotonic() + TASK_VERIFY_S
        while not self._stop.is_set():
            try:
                tasks = self.client.api.tasks(filters={"id": task_id})
            except Exception:  # not a manager, or the engine is gone: not verified
                return False
            found = next((t for t in tasks if t.get("ID") == task_id), None)
            if found is None:
                return False  # the orchestrator has no such task
            status = ((found.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
            if status:
                return bool(status == container_id)
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)  # the worker has not reported the task's container yet
        return False

    def stop(self) -> None:
        self._claims.put(None)
        for lane in self._lanes:
            lane.put(None)  # after what is queued: events already read are still sent
        self._stop.set()
        if self._stream is not None:  # unblocks run(), which waits on the stream, not on the stop switch
            with contextlib.suppress(Exception):
                self._stream.close()
        super().stop()
        for thread in self._lane_threads:
            thread.join(timeout=self.join_timeout_s)
