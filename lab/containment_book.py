"""One run's containments: what a responder did to workloads, journalled, and undone by ref.

A ``LabSession`` keeps one for its scenarios (``run --respond``), and ``stowaway watch`` keeps one
for what an analyst asks it to contain (``stowaway respond``); both act through the same functions
(``lab.quarantine`` for a container, ``lab.service_hold`` for a Swarm service) and journal every
record before it acts, so the reaper can give back what a killed process held.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from lab import journal, pod_hold, service_hold
from lab import quarantine as quarantine_mod
from lab.errors import LabError
from lab.networks import LabNetwork
from lab.paths import LabPaths
from lab.quarantine import ContainmentRecord


class ContainmentBook:
    """``network_factory`` makes the quarantine network on first use; ``hold_image`` is the image
    of the idle containers that keep a quarantined container's addresses (None: not held)."""

    def __init__(self, client: Any, paths: LabPaths, run_id: str, network_factory: Callable[[], LabNetwork],
                 hold_image: str | None = None, cluster: Any = None) -> None:
        self.client, self.paths, self.run_id = client, paths, run_id
        self.cluster = cluster  # a Kubernetes run's ClusterBackend: what pod holds act through
        self._network_factory, self.hold_image = network_factory, hold_image
        self._network: LabNetwork | None = None
        self._records: list[ContainmentRecord] = []
        self._lock = threading.Lock()

    def quarantine_network(self) -> LabNetwork:
        """The quarantine network, made on first use. Only contained containers ever join it."""
        with self._lock:
            if self._network is None:
                self._network = self._network_factory()
            return self._network

    @property
    def network(self) -> LabNetwork | None:
        """The quarantine network if one was made."""
        return self._network

    def forget_network(self) -> None:
        """The network was removed with the rest of the run (teardown)."""
        self._network = None

    def quarantine(self, ref: str) -> ContainmentRecord:
        """Move the container ``ref`` off every network onto the quarantine network; it keeps
        running. A container already quarantined here gets its record back.

        Raises:
            LabError: not a container ref, no such container, or it cannot be moved (host, none or
                another container's network namespace: pause it instead).
        """
        container_id = container_of(ref)
        live = self._live(container_id, quarantine_mod.QUARANTINE)
        if live is not None:
            return live
        record = quarantine_mod.quarantine(self.client, self.run_id, container_id, self.quarantine_network(),
                                           journal=self._journal, hold_image=self.hold_image)
        return self._remember(record)

    def pause(self, ref: str) -> ContainmentRecord:
        """Freeze the container ``ref``. A container already paused here gets its record back.

        Raises:
            LabError: not a container ref, no such container, not running, or paused by someone else.
        """
        container_id = container_of(ref)
        live = self._live(container_id, quarantine_mod.PAUSE)
        if live is not None:
            return live
        return self._remember(quarantine_mod.pause(self.client, container_id, journal=self._journal))

    def hold_service(self, ref: str) -> ContainmentRecord:
        """Stop every task of the Swarm service ``ref`` through its spec, keeping the spec (see
        ``lab.service_hold``). A service held here already gets its record back.

        Raises:
            LabError: not a service ref, no such service, it runs no task, or the orchestrator refused.
        """
        kind, _, service_id = ref.partition(":")
        if kind != "service" or not service_id:
            raise LabError(f"hold-service acts on Swarm services (\"service:<id>\"), not {ref!r}")
        live = self._live(service_id, quarantine_mod.HOLD_SERVICE)
        if live is not None:
            return live
        return self._remember(service_hold.hold_service(self.client, service_id, journal=self._journal))

    def hold_pod(self, ref: str, cordon: bool = False) -> ContainmentRecord:
        """Label the pod ``ref`` names (``pod:<uid>``, or ``container:<id>`` of one of its
        containers), deny its traffic with a NetworkPolicy, freeze its containers on its node and,
        with ``cordon``, cordon that node (see ``lab.pod_hold``). A pod held here already gets its
        record back.

        Raises:
            LabError: not a Kubernetes run, no such pod, or a step failed (undone first).
        """
        if self.cluster is None:
            raise LabError(f"{ref}: pods are held on a Kubernetes run only")
        pod = pod_hold.find_pod(self.cluster, ref)
        if pod is None:
            raise LabError(f"{ref}: no pod of the cluster is it or runs it")
        live = self._live(pod["metadata"]["uid"], quarantine_mod.HOLD_POD)
        if live is not None:
            return live
        return self._remember(pod_hold.hold_pod(self.cluster, pod, self.run_id, cordon=cordon, journal=self._journal))

    def release(self, record: ContainmentRecord) -> ContainmentRecord:
        """Undo a containment exactly (``lab.quarantine.release``; a pod's through the cluster). Idempotent.

        Raises:
            LabError: the engine refused a step.
        """
        if record.action == quarantine_mod.HOLD_POD and record.contained:
            record.release_after = pod_hold.release(self.cluster, record)
            record.released_at = time.time()
            self._journal_release(record)
            return record
        return quarantine_mod.release(self.client, record, journal=self._journal_release)

    def release_all(self) -> list[str]:
        """Release whatever is still contained, newest first; the problems, in words."""
        problems = []
        for record in reversed(self.records):
            if record.contained:
                try:
                    self.release(record)
                except Exception as exc:  # report it; the reaper still removes the run's own objects
                    problems.append(f"release of {record.action} on {record.ref}: {exc}")
        return problems

    def held(self, ref: str) -> list[ContainmentRecord]:
        """The records still contained whose object ``ref`` names (a unique id prefix will do)."""
        kind, _, ident = ref.partition(":")
        return [r for r in self.records if r.contained and r.ref.partition(":")[0] == kind
                and ident and r.ref.partition(":")[2].startswith(ident)]

    def service_of_task(self, container_ref: str, service_refs: Sequence[str]) -> str | None:
        """The service ref (of ``service_refs``) whose running task ``container_ref`` is, by the
        orchestrator's own task list; None for a container no service runs (whatever its labels say)."""
        container_id = container_of(container_ref)
        ids = [ref.removeprefix("service:") for ref in service_refs if ref.startswith("service:")]
        found = service_hold.service_running(self.client, container_id, ids) if ids else None
        return None if found is None else f"service:{found}"

    def service_containers(self, service_ref: str) -> list[str]:
        """The containers of the service's tasks that run now, as container refs: those the
        orchestrator means to run and those it is still shutting down (mid-rollout, the old task
        runs until its stop signal is through)."""
        tasks = service_hold.still_running(self.client, service_ref.removeprefix("service:"))
        return [f"container:{t['container']}" for t in tasks if t["container"]]

    def can_connect(self, ref: str, address: str, port: int, timeout_s: float = 3.0) -> bool:
        """Whether a TCP connection from inside the container ``ref`` to ``address``:``port`` opens
        (``lab.quarantine.can_connect``)."""
        return quarantine_mod.can_connect(self.client, container_of(ref), address, port, timeout_s)

    def pod_can_connect(self, record: ContainmentRecord, address: str, port: int, timeout_s: float = 3.0) -> bool:
        """Whether a TCP connection from the network namespace of the pod ``record`` holds (or held)
        to ``address``:``port`` opens (``lab.pod_hold.can_connect``)."""
        if self.cluster is None:
            raise LabError(f"{record.ref}: pods are probed on a Kubernetes run only")
        return pod_hold.can_connect(self.cluster, record, address, port, timeout_s)

    @property
    def records(self) -> list[ContainmentRecord]:
        """Every containment made here, released or not, oldest first."""
        with self._lock:
            return list(self._records)

    def _live(self, ident: str, action: str) -> ContainmentRecord | None:
        with self._lock:
            for record in self._records:
                if record.contained and record.action == action and record.ref.partition(":")[2].startswith(ident):
                    return record
        return None

    def _remember(self, record: ContainmentRecord) -> ContainmentRecord:
        with self._lock:
            self._records.append(record)
        return record

    def _journal(self, record: ContainmentRecord) -> None:
        journal.append(self.paths, self.run_id, {"kind": "containment", "record": record.to_dict()})

    def _journal_release(self, record: ContainmentRecord) -> None:
        journal.append(self.paths, self.run_id, {"kind": "containment-released", "ref": record.ref,
                                                 "action": record.action})


def watch_book(client: Any, paths: LabPaths, run_id: str, hold_image: str | None = None) -> ContainmentBook:
    """A book for a process with no lab slot (``stowaway watch``): its quarantine network takes a
    spare /26 of the quarantine range, named and labelled after ``run_id``."""
    from lab.networks import create_quarantine_network, spare_quarantine_slot

    prefix = f"stw-{run_id[-6:]}"
    return ContainmentBook(client, paths, run_id,
                           lambda: create_quarantine_network(client, run_id, prefix, spare_quarantine_slot(client)),
                           hold_image=hold_image)


def container_of(ref: str) -> str:
    """The container id of a ``container:<id>`` ref.

    Raises:
        LabError: another kind of ref.
    """
    kind, _, ident = ref.partition(":")
    if kind != "container" or not ident:
        raise LabError(f"quarantine and pause act on containers (\"container:<id>\"), not {ref!r}: a Swarm "
                       "service is held with hold_service; pods are not contained yet")
    return ident
