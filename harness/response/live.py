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

from typing import Any

from lab import LabInternet, LabPaths, lab_internet_of, reap, watch_book


class LiveSession:
    """The responder's surface on a watched engine (see the module docstring)."""

    def __init__(self, engine: Any, paths: LabPaths, run_id: str, hold_image: str | None = None) -> None:
        self.engine, self.paths, self.run_id = engine, paths, run_id
        self.book = watch_book(engine.client, paths, run_id, hold_image=hold_image)
        self.networks: dict[str, Any] = {}  # the focused lab run's networks by role (for the proofs)
        self.sinkhole_endpoint: Any = None
        self._internet: LabInternet | None = None

    # --- the lab run a workload belongs to ------------------------------------------------------

    def focus(self, ref: str) -> str:
        """Aim the proofs at the lab internet of the lab run whose networks ``ref`` is on; returns
        that run's id ("" when it is on none, and then there is no lab internet to probe)."""
        container_id = ref.removeprefix("container:")
        if ref.startswith("service:"):
            tasks = self.book.service_containers(ref)
            container_id = tasks[0].removeprefix("container:") if tasks else ""
        self._internet = lab_internet_of(self.engine.client, container_id) if container_id else None
        self.networks = dict(self._internet.networks) if self._internet else {}
        self.sinkhole_endpoint = self._internet
        return self._internet.run_id if self._internet else ""

    def sinkhole_records(self, peer: str | None = None) -> list[dict[str, Any]]:
        """The focused lab internet's record of what it received (as ``LabSession.sinkhole_records``)."""
        return self._internet.records(self.engine.client, peer) if self._internet else []

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
        except Exception:  # not a Swarm manager (the engine says so with an API error)
            return []

    def close(self) -> list[str]:
        """Give back everything still contained and remove what containing made (the quarantine
        network, the address holders); the problems, in words."""
        problems = self.book.release_all()
        if self.book.network is not None or self.book.records:
            try:
                reap(self.engine.client, self.paths, only={self.run_id})
            except Exception as exc:  # the engine may be gone: the reaper of a later run finishes it
                problems.append(f"quarantine network and holders: {type(exc).__name__}: {exc}")
        return problems
