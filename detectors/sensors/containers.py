"""What the host sensors know about each container: identity, storage layers, cgroups.

The cgroup, exec, procfs and container-FIM sensors all need the same facts about a container (its
name, image, labels, overlay directories, cgroup paths). One directory, shared by them, learns them
once: a container listing at start, then the docker events stream (``observe``) for new and
departed containers, and a lazy ``inspect`` for anything seen first through the kernel. Nothing
here polls the engine per sample: that is what keeps 500 containers cheap.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import docker.errors

from detectors.event import Event
from detectors.sensors.base import is_bookkeeping_label

CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    id: str
    name: str
    image: str  # the image reference as deployed (or an image id for build steps)
    image_id: str
    labels: dict[str, str] = field(default_factory=dict)  # bookkeeping labels already stripped
    networks: tuple[str, ...] = ()
    network_ids: tuple[str, ...] = ()
    command: tuple[str, ...] = ()  # entrypoint + cmd as configured
    pid: int = 0
    privileged: bool = False
    upper_dir: str = ""  # overlay2: the container's own changes against its image
    lower_dirs: tuple[str, ...] = ()  # the image's layers (plus the engine's init layer)
    merged_dir: str = ""  # the container's root as the host sees it
    writable_mounts: tuple[tuple[str, str], ...] = ()  # (host source, container destination)
    started_at: float = 0.0  # epoch seconds (State.StartedAt)
    # What the runtime knows beyond the container itself (a pod's name, namespace and uid, the node),
    # as event fields: every event about the container carries them.
    context: tuple[tuple[str, Any], ...] = ()
    cgroup_root: str = CGROUP_ROOT  # where the cgroup hierarchies are mounted, as this sensor sees them
    log_path: str = ""  # the file the runtime writes the container's output to, as this sensor sees it

    def fields(self) -> dict[str, Any]:
        """The container fields every host event carries (policy matches on them)."""
        out: dict[str, Any] = {
            "container.id": self.id,
            "container.name": self.name,
            "container.image.name": self.image,
            "container.image.id": self.image_id,
            "container.network.names": list(self.networks),
            "container.network.ids": list(self.network_ids),
            "container.command": list(self.command),
        }
        for key, value in self.labels.items():
            out[f"container.labels.{key}"] = value
        out.update(self.context)
        return out


def _epoch(stamp: str) -> float:
    """RFC 3339 with nanoseconds ("2026-11-29T10:08:04.123456789Z") -> epoch seconds."""
    if not stamp or stamp.startswith("0001-"):
        return 0.0
    head, _, rest = stamp.partition(".")
    fraction = rest.rstrip("Z")[:6] if rest else "0"
    try:
        return datetime.fromisoformat(f"{head}.{fraction or '0'}+00:00").timestamp()
    except ValueError:
        return 0.0


def info_from_inspect(data: dict[str, Any]) -> ContainerInfo:
    config = data.get("Config") or {}
    host = data.get("HostConfig") or {}
    graph = (data.get("GraphDriver") or {}).get("Data") or {}
    networks = ((data.get("NetworkSettings") or {}).get("Networks") or {})
    lower = graph.get("LowerDir") or ""
    return ContainerInfo(
        id=data.get("Id", ""),
        name=(data.get("Name") or "").lstrip("/"),
        image=config.get("Image", ""),
        image_id=data.get("Image", ""),
        labels={k: v for k, v in (config.get("Labels") or {}).items() if not is_bookkeeping_label(k)},
        networks=tuple(sorted(networks)),
        network_ids=tuple(n.get("NetworkID", "") for _, n in sorted(networks.items()) if n.get("NetworkID")),
        command=(*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])),
        pid=int((data.get("State") or {}).get("Pid") or 0),
        privileged=bool(host.get("Privileged")),
        upper_dir=graph.get("UpperDir") or "",
        lower_dirs=tuple(p for p in lower.split(":") if p),
        merged_dir=graph.get("MergedDir") or "",
        started_at=_epoch((data.get("State") or {}).get("StartedAt") or ""),
        writable_mounts=tuple((m.get("Source", ""), m.get("Destination", "")) for m in data.get("Mounts") or []
                              if m.get("RW") and m.get("Type") == "bind"),
    )


def cgroup_dirs(container_id: str, pid: int = 0, root: str = CGROUP_ROOT) -> dict[str, str]:
    """Where a container's cpu and memory accounting live: {"cpu": dir, "memory": dir, "v2": dir}.

    Read from the container's init process when it is known (right whatever the cgroup parent),
    else the engine's default ``/docker/<id>`` parent.
    """
    relative: dict[str, str] = {}
    if pid:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cgroup") as handle:
            for line in handle:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for controller in controllers.split(","):
                    relative[controller or "v2"] = path
    if os.path.exists(f"{root}/cgroup.controllers"):  # the unified (v2) hierarchy is mounted at root
        path = relative.get("v2") or f"/docker/{container_id}"
        return {"v2": f"{root}{path}"}
    return {
        "cpu": f"{root}/cpuacct{relative.get('cpuacct') or f'/docker/{container_id}'}",
        "memory": f"{root}/memory{relative.get('memory') or f'/docker/{container_id}'}",
    }


class ContainerSource(Protocol):
    """Where a directory learns containers: the Docker engine's API on a host, or a node's container
    runtime (``detectors.sensors.containerd``) inside the node agent."""

    def running_ids(self) -> list[str]: ...

    def inspect(self, container_id: str) -> ContainerInfo | None:
        """The container's facts; None when it is gone or the runtime cannot say."""


class DockerSource:
    """Containers of a Docker engine, through its API (the Docker SDK client)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def running_ids(self) -> list[str]:
        try:
            return [entry["Id"] for entry in self.client.api.containers()]
        except Exception:
            return []

    def inspect(self, container_id: str) -> ContainerInfo | None:
        try:
            return info_from_inspect(self.client.api.inspect_container(container_id))
        except (docker.errors.NotFound, docker.errors.APIError):
            return None
        except Exception:
            return None


class ContainerDirectory:
    """Container id -> ContainerInfo, kept current from docker events (or, in the node agent, from the
    runtime's own state: ``detectors.sensors.containerd``). Thread-safe."""

    def __init__(self, source: Any) -> None:
        """``source``: a ContainerSource, or a Docker SDK client (read through ``DockerSource``)."""
        self.source: ContainerSource = source if hasattr(source, "running_ids") else DockerSource(source)
        self._known: dict[str, ContainerInfo] = {}
        self._gone: set[str] = set()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str, ContainerInfo | None], None]] = []
        self._last_event = ""  # several sensors share one directory and forward the same events

    def listen(self, callback: Callable[[str, ContainerInfo | None], None]) -> None:
        """``callback(id, info)`` on every container that appears; ``(id, None)`` when it goes."""
        self._listeners.append(callback)

    def load_running(self) -> list[ContainerInfo]:
        """List the running containers once (sensor start)."""
        found = []
        for container_id in self.source.running_ids():
            info = self.get(container_id)
            if info is not None:
                found.append(info)
        return found

    def get(self, container_id: str) -> ContainerInfo | None:
        with self._lock:
            info = self._known.get(container_id)
            if info is not None or container_id in self._gone:
                return info
        info = self.source.inspect(container_id)
        if info is None:
            return None
        self._add(info)
        return info

    def running(self) -> list[ContainerInfo]:
        with self._lock:
            return list(self._known.values())

    def sync(self) -> None:
        """Learn the containers that started and forget those that went, from the source's listing:
        for a source with no events stream (a node's container runtime, read by the node agent)."""
        current = set(self.source.running_ids())
        with self._lock:
            known = set(self._known)
        for container_id in sorted(current - known):
            self.get(container_id)
        for container_id in sorted(known - current):
            self.forget(container_id)

    def _add(self, info: ContainerInfo) -> None:
        with self._lock:
            fresh = info.id not in self._known
            self._known[info.id] = info
            self._gone.discard(info.id)
        if fresh:
            for callback in self._listeners:
                callback(info.id, info)

    def forget(self, container_id: str) -> None:
        with self._lock:
            known = self._known.pop(container_id, None)
            self._gone.add(container_id)
            if len(self._gone) > 10000:  # bounded memory for a long `stowaway watch`
                self._gone.clear()
        if known is not None:
            for callback in self._listeners:
                callback(container_id, None)

    def observe(self, event: Event) -> None:
        """Follow the docker events sensor: starts add a container, deaths remove it."""
        if event.get("event.module") != "docker" or event.get("event.type") != "container":
            return
        if event.get("event.id") == self._last_event:
            return
        self._last_event = event.get("event.id", "")
        action = event.get("event.action")
        cid = event.get("container.id") or ""
        if not cid:
            return
        if action == "start":
            with self._lock:
                self._gone.discard(cid)
                self._known.pop(cid, None)  # a restart may have new pids and cgroups
            self.get(cid)
        elif action in ("die", "destroy"):
            self.forget(cid)
