"""What a scenario may read from, and change on, the engine and orchestrator beneath the lab.

A mixin of ``Lab``: the typed methods scenarios use instead of an engine client (inspect data, the
container's output and its log file, the engine's socket and info, Swarm tasks and service updates,
Swarm node labels, a Kubernetes node's shell, the private engine's config). Keeping them here keeps
``Lab`` small and makes this the whole surface a backend must offer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors
import docker.types

from lab import journal
from lab.backends.base import Workload
from lab.engine_config import EngineConfig
from lab.errors import LabError
from lab.workload import Logging, Mount

if TYPE_CHECKING:
    from lab.session import LabSession

Target = Workload | str  # a workload, or a container id the engine knows


class LogsUnavailable(LabError):
    """The engine keeps no output for this workload (log driver ``none``, or a driver it cannot read)."""


@dataclass(frozen=True, slots=True)
class SwarmNode:
    id: str
    hostname: str
    labels: dict[str, str] = field(default_factory=dict)


class EngineViews:
    _session: LabSession
    cleanup: Callable[[str, Callable[[], None]], None]

    # --- containers ---------------------------------------------------------------------------
    def _container_id(self, target: Target) -> str:
        if isinstance(target, str):
            return target
        if target.kind == "container":
            return target.id
        if target.kind == "service" and target.container_ids:
            return target.container_ids[0]
        raise LabError(f"{target.ref} has no container of the lab engine to read")

    def inspect(self, target: Target) -> dict[str, Any]:
        """The engine's inspect document of a container (a workload, a service's first task, or an
        id), or of a Swarm service when ``target`` is a service workload."""
        api = self._session.engine.client.api
        try:
            if isinstance(target, Workload) and target.kind == "service":
                return dict(api.inspect_service(target.id))
            return dict(api.inspect_container(self._container_id(target)))
        except docker.errors.NotFound as exc:
            raise LabError(f"the engine does not know {target if isinstance(target, str) else target.ref}") from exc

    def log_path(self, target: Target) -> Path | None:
        """The container's log file on the engine's host (json-file, local); None when there is none
        or the engine is not on this host."""
        path = self.inspect(self._container_id(target)).get("LogPath") or ""
        return Path(path) if path and Path(path).exists() else None

    def logs(self, target: Target) -> str:
        """What the engine kept of the container's stdout and stderr.

        Raises:
            LogsUnavailable: the engine refuses (its log driver keeps nothing it can read back).
        """
        try:
            data = self._session.engine.client.api.logs(self._container_id(target), stdout=True, stderr=True)
        except docker.errors.APIError as exc:
            raise LogsUnavailable(str(exc)) from exc
        return bytes(data).decode(errors="replace")

    # --- the engine ---------------------------------------------------------------------------
    def engine_socket(self) -> Path | None:
        """The engine's API socket on this host, for a scenario that mounts it; None for a TCP engine."""
        url = self._session.engine.base_url
        return Path(url[len("unix://"):]) if url.startswith("unix://") else None

    def engine_info(self) -> dict[str, Any]:
        """The engine's ``docker info`` document."""
        return dict(self._session.engine.client.info())

    def engine_config(self) -> EngineConfig:
        """The private engine's daemon.json; every edit registers its undo on this scope.

        Raises:
            EngineNotPrivate: the run's engine is not the lab's own dockerd.
        """
        return EngineConfig(self._session.engine, self.cleanup)

    # --- Swarm --------------------------------------------------------------------------------
    def service_tasks(self, service: Workload, desired_state: str | None = None) -> list[dict[str, Any]]:
        """The orchestrator's tasks of a service (optionally only those with this desired state)."""
        filters: dict[str, str] = {"service": service.id}
        if desired_state:
            filters["desired-state"] = desired_state
        return list(self._session.engine.client.api.tasks(filters=filters))

    def update_service(self, service: Workload, *, image: str | None = None, env: dict[str, str] | None = None,
                       command: tuple[str, ...] | None = None, args: tuple[str, ...] | None = None,
                       replicas: int | None = None, mounts: tuple[Mount, ...] = (),
                       logging: Logging | None = None) -> None:
        """Change a service's spec the way an operator with manager access would (a rolling update)."""
        changes: dict[str, Any] = {}
        if image is not None:
            changes["image"] = image
        if env is not None:
            changes["env"] = [f"{k}={v}" for k, v in env.items()]
        if command is not None:
            changes["command"] = list(command)
        if args is not None:
            changes["args"] = list(args)
        if replicas is not None:
            changes["mode"] = docker.types.ServiceMode("replicated", replicas=replicas)
        if logging is not None:
            changes["log_driver"], changes["log_driver_options"] = logging.driver, dict(logging.options)
        if mounts:
            changes["mounts"] = [docker.types.Mount(target=m.target, source=m.source, type=m.type,
                                                    read_only=m.read_only) for m in mounts]
        self._session.engine.client.services.get(service.id).update(**changes)

    def swarm_node(self, node_id: str | None = None) -> SwarmNode:
        """The lab engine's own Swarm node (or ``node_id``), with its current labels.

        Raises:
            LabError: the engine is not a Swarm node.
        """
        client = self._session.engine.client
        try:
            node = client.nodes.get(node_id or client.info()["Swarm"]["NodeID"])
        except (KeyError, docker.errors.APIError) as exc:
            raise LabError(f"the lab engine is not a Swarm node: {exc}") from exc
        return SwarmNode(id=str(node.id), hostname=node.attrs["Description"]["Hostname"],
                         labels=dict(node.attrs["Spec"].get("Labels") or {}))

    def set_node_labels(self, node_id: str, labels: dict[str, str]) -> None:
        """Replace a Swarm node's labels (the rest of its spec unchanged). Each change is journalled
        first (``lab.journal``), so the reaper can undo it if the run dies before its cleanup."""
        node = self._session.engine.client.nodes.get(node_id)
        current = dict(node.attrs["Spec"].get("Labels") or {})
        for key in sorted(set(current) | set(labels)):
            if current.get(key) != labels.get(key):
                journal.record_node_label(self._session.paths, self._session.run_id, node_id, key,
                                          current.get(key), labels.get(key))
        node.update({**node.attrs["Spec"], "Labels": dict(labels)})
