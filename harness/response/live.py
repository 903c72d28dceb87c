"""What the responder acts through during ``stowaway watch``: the watched engine, with no lab run of
its own.

``Responder`` was written against a ``LabSession`` (its containments, its lab internet and the
record the lab internet keeps). A watch has none of that: it watches an engine where others run
things (a kept detonation, someone's run, a workload). ``LiveSession`` gives the responder the same
surface on that engine:

- containment through a ``ContainmentBook`` under the watch's own run id (journalled: a killed
  watch's containments are given back by the reaper), with a quarantine network in a spare /26 of
  the quarantine range, made on first use;
- the lab internet of the lab run whose networks the workload is on, when it is on one (found by the
  run label every lab object carries and the name the lab gives its lab internet's server): then
  the proofs are those of ``run --respond``, the probe from inside and the server's own record.
  A workload on no lab network has no lab internet: the proof is the engine's word on its networks
  (only the quarantine network), and the result says the probe was not made.
"""

from __future__ import annotations

import contextlib
import json
import types
from typing import Any

import docker.errors

from lab import RUN_LABEL, LabPaths
from lab.containment_book import ContainmentBook
from lab.networks import LabNetwork, create_quarantine_network, spare_quarantine_slot


def sinkhole_ports() -> tuple[int, ...]:
    from lab.session import SINKHOLE_PORTS

    return SINKHOLE_PORTS


class LiveSession:
    """The responder's surface on a watched engine (see the module docstring)."""

    def __init__(self, engine: Any, paths: LabPaths, run_id: str, hold_image: str | None = None) -> None:
        self.engine, self.paths, self.run_id = engine, paths, run_id
        self.prefix = f"stw-{run_id[-6:]}"
        self.book = ContainmentBook(engine.client, paths, run_id, self._make_network, hold_image=hold_image)
        self.networks: dict[str, Any] = {}  # the focused lab run's networks by role (for the proofs)
        self.sinkhole_endpoint: Any = None
        self._sinkhole_id = ""

    def _make_network(self) -> LabNetwork:
        return create_quarantine_network(self.engine.client, self.run_id, self.prefix,
                                         spare_quarantine_slot(self.engine.client))

    # --- the lab run a workload belongs to ------------------------------------------------------

    def focus(self, ref: str) -> str:
        """Aim the proofs at the lab internet of the lab run whose networks ``ref`` is on; returns
        that run's id ("" when it is on none, and then there is no lab internet to probe)."""
        self.networks, self.sinkhole_endpoint, self._sinkhole_id = {}, None, ""
        api = self.engine.client.api
        container_id = ref.removeprefix("container:")
        if ref.startswith("service:"):
            tasks = self.book.service_containers(ref)
            if not tasks:
                return ""
            container_id = tasks[0].removeprefix("container:")
        try:
            attached = (api.inspect_container(container_id).get("NetworkSettings") or {}).get("Networks") or {}
        except docker.errors.NotFound:
            return ""
        for endpoint in attached.values():
            with contextlib.suppress(docker.errors.NotFound):
                network = api.inspect_network(endpoint.get("NetworkID", ""))
                run = (network.get("Labels") or {}).get(RUN_LABEL)
                if run and network.get("Name", "").endswith("-inet"):
                    self._focus_run(run)
                    return run
        return ""

    def _focus_run(self, run: str) -> None:
        api = self.engine.client.api
        prefix = f"stw-{run[-6:]}"
        for network in api.networks(filters={"label": f"{RUN_LABEL}={run}"}):
            role = network["Name"].removeprefix(f"{prefix}-")
            self.networks[role] = types.SimpleNamespace(name=network["Name"], id=network["Id"])
        from lab.session import SINKHOLE_NAME

        for container in api.containers(filters={"label": f"{RUN_LABEL}={run}", "name": f"{prefix}-{SINKHOLE_NAME}"}):
            inet = self.networks.get("inet")
            address = ((container.get("NetworkSettings") or {}).get("Networks") or {}).get(
                inet.name if inet else "", {}).get("IPAddress", "")
            if address:
                self._sinkhole_id = container["Id"]
                self.sinkhole_endpoint = types.SimpleNamespace(address=address, ports=sinkhole_ports())

    def sinkhole_records(self, peer: str | None = None) -> list[dict[str, Any]]:
        """The focused lab internet's record of what it received (as ``LabSession.sinkhole_records``)."""
        if not self._sinkhole_id:
            return []
        from lab.session import SINKHOLE_RECORD

        try:
            result = self.engine.client.containers.get(self._sinkhole_id).exec_run(
                ["sh", "-c", f"cat {SINKHOLE_RECORD} 2>/dev/null || true"])
        except docker.errors.APIError:
            return []
        records = []
        for line in result.output.decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if peer is None or record.get("peer") == peer:
                    records.append(record)
        return records

    # --- what the responder calls (as on a LabSession) -------------------------------------------

    def quarantine(self, ref: str) -> Any:
        return self.book.quarantine(ref)

    def pause(self, ref: str) -> Any:
        return self.book.pause(ref)

    def hold_service(self, ref: str) -> Any:
        return self.book.hold_service(ref)

    def release(self, record: Any) -> Any:
        return self.book.release(record)

    def can_connect(self, ref: str, address: str, port: int, timeout_s: float = 3.0) -> bool:
        return self.book.can_connect(ref, address, port, timeout_s)

    def service_of_task(self, container_ref: str, service_refs: list[str]) -> str | None:
        return self.book.service_of_task(container_ref, service_refs)

    def service_containers(self, service_ref: str) -> list[str]:
        return self.book.service_containers(service_ref)

    def service_refs(self) -> list[str]:
        """Every Swarm service on the engine (none when it is not a Swarm manager)."""
        try:
            return [f"service:{s['ID']}" for s in self.engine.client.api.services()]
        except docker.errors.APIError:
            return []

    def close(self) -> list[str]:
        """Give back everything still contained and remove what containing made (the quarantine
        network, the address holders); the problems, in words."""
        from lab.bookkeeping import reap

        problems = self.book.release_all()
        if self.book.network is not None or self.book.records:
            try:
                reap(self.engine.client, self.paths, only={self.run_id})
            except Exception as exc:  # the engine may be gone: the reaper of a later run finishes it
                problems.append(f"quarantine network and holders: {type(exc).__name__}: {exc}")
        return problems

