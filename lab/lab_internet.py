"""Finding a lab run's lab internet from one of its workloads, for a process that is not that run.

``stowaway watch`` acts on workloads other processes started (a kept detonation, a run going on).
To prove a containment the way a run does, it needs the lab internet of the run the workload
belongs to: the server every lab run starts on its ``inet`` network, and the record it keeps of what
it received. The lab knows how it names them (the run label on every object, ``<prefix>-inet``,
``<prefix>-<SINKHOLE_NAME>``), so the lookup lives here, beside that naming.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import docker.errors

from lab.naming import RUN_LABEL


@dataclass(frozen=True, slots=True)
class LabInternet:
    """One run's lab internet: its address and ports, the run's networks by role, its server."""

    run_id: str
    address: str
    ports: tuple[int, ...]
    container_id: str
    networks: dict[str, Any] = field(default_factory=dict)  # role -> object with .name and .id

    def records(self, client: Any, peer: str | None = None) -> list[dict[str, Any]]:
        """What the server recorded (as ``LabSession.sinkhole_records``); [] when it is gone."""
        from lab.session import SINKHOLE_RECORD

        try:
            result = client.containers.get(self.container_id).exec_run(
                ["sh", "-c", f"cat {SINKHOLE_RECORD} 2>/dev/null || true"])
        except docker.errors.APIError:
            return []
        found = []
        for line in result.output.decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if peer is None or record.get("peer") == peer:
                    found.append(record)
        return found


@dataclass(frozen=True, slots=True)
class _Net:
    name: str
    id: str


def lab_internet_of(client: Any, container_id: str) -> LabInternet | None:
    """The lab internet of the lab run whose ``inet`` network the container is on; None when it is
    on no lab run's (or that run's server is gone)."""
    from lab.session import SINKHOLE_NAME, SINKHOLE_PORTS

    api = client.api
    try:
        attached = (api.inspect_container(container_id).get("NetworkSettings") or {}).get("Networks") or {}
    except docker.errors.NotFound:
        return None
    for endpoint in attached.values():
        try:
            network = api.inspect_network(endpoint.get("NetworkID", ""))
        except docker.errors.NotFound:
            continue
        run = (network.get("Labels") or {}).get(RUN_LABEL)
        if not run or not str(network.get("Name", "")).endswith("-inet"):
            continue
        prefix = str(network["Name"]).removesuffix("-inet")
        networks = {str(n["Name"]).removeprefix(f"{prefix}-"): _Net(n["Name"], n["Id"])
                    for n in api.networks(filters={"label": f"{RUN_LABEL}={run}"})}
        for server in api.containers(filters={"label": f"{RUN_LABEL}={run}", "name": f"{prefix}-{SINKHOLE_NAME}"}):
            address = (((server.get("NetworkSettings") or {}).get("Networks") or {}).get(network["Name"]) or {}).get(
                "IPAddress", "")
            if address:
                return LabInternet(run, address, SINKHOLE_PORTS, server["Id"], networks)
    return None
