"""Turn ``docker inspect`` JSON into flat Event fields. Pure functions, tested on recorded JSON."""

from __future__ import annotations

from typing import Any

from detectors.sensors.base import is_bookkeeping_label

SWARM_SERVICE_LABEL = "com.docker.swarm.service.id"
SWARM_TASK_LABEL = "com.docker.swarm.task.id"


def container_fields(inspect: dict[str, Any]) -> dict[str, Any]:
    """Flatten the security-relevant parts of a container's inspect data."""
    config = inspect.get("Config") or {}
    host = inspect.get("HostConfig") or {}
    log_config = host.get("LogConfig") or {}
    labels = {k: v for k, v in (config.get("Labels") or {}).items() if not is_bookkeeping_label(k)}
    mounts = inspect.get("Mounts") or []
    networks = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    state = inspect.get("State") or {}
    command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    fields: dict[str, Any] = {
        "container.id": inspect.get("Id", ""),
        "container.name": (inspect.get("Name") or "").lstrip("/"),
        "container.image.name": config.get("Image", ""),
        "container.image.id": inspect.get("Image", ""),
        "container.runtime": host.get("Runtime", ""),
        "container.privileged": bool(host.get("Privileged")),
        "container.cap_add": list(host.get("CapAdd") or []),
        "container.cap_drop": list(host.get("CapDrop") or []),
        "container.pid_mode": host.get("PidMode") or "",
        "container.network_mode": host.get("NetworkMode") or "",
        "container.ipc_mode": host.get("IpcMode") or "",
        "container.userns_mode": host.get("UsernsMode") or "",
        "container.security_opt": list(host.get("SecurityOpt") or []),
        "container.devices": [d.get("PathOnHost", "") for d in host.get("Devices") or []],
        "container.logging.driver": log_config.get("Type", ""),
        "container.network.names": sorted(networks),
        "container.network.ids": [n.get("NetworkID", "") for _, n in sorted(networks.items()) if n.get("NetworkID")],
        "container.command": command,
        "container.mounts.sources": [m.get("Source", "") for m in mounts],
        "container.mounts.destinations": [m.get("Destination", "") for m in mounts],
        "container.mounts.writable_sources": [m.get("Source", "") for m in mounts if m.get("RW")],
        "container.user": config.get("User", ""),
        "container.pid": state.get("Pid", 0),
        "container.log_path": inspect.get("LogPath", ""),
        "process.command_line": " ".join(command),
        "process.executable": command[0] if command else "",
        # A task's labels are the container's own to claim: the sensor asks the orchestrator whether
        # the task exists and runs this very container before it says "swarm" (DockerEventsSensor).
        "orchestrator.type": "docker",
    }
    for key, value in (log_config.get("Config") or {}).items():
        fields[f"container.logging.options.{key}"] = value
    for key, value in labels.items():
        fields[f"container.labels.{key}"] = value
    if SWARM_SERVICE_LABEL in labels:
        fields["orchestrator.task.claimed"] = True
        fields["orchestrator.resource.id"] = labels[SWARM_SERVICE_LABEL]
        fields["orchestrator.resource.name"] = labels.get("com.docker.swarm.service.name", "")
    return fields
