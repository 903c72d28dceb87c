"""A container's log file deleted while the container still runs.

Why stateful: the engine deletes a container's log itself when the container is removed, so a
deletion alone means nothing. What matters is a deletion while the container lives on and keeps
writing into an unlinked file nobody can read. The engine's ``die``/``destroy`` events and the
file's deletion arrive on different sensors, in either order and a moment apart, so a deletion is
held for ``GRACE_S`` and raised only if the container has not died or been destroyed by then.
Rotation (``rotated``, see the container-logs sensor) is not a deletion.
"""

from __future__ import annotations

from typing import ClassVar

from detectors.alert import Alert
from detectors.analytics.base import About, AnalyticBase
from detectors.event import Event
from detectors.policies import Policy

GRACE_S = 3.0


ABOUT = About(
    rule_id="stowaway.analytic.container-log-deleted",
    title="A running container's log file was deleted on the host",
    severity="high",
    techniques=("T1070.002", "T1562.006"),
    description=(
        "The log file of a container (the engine's json-file log, or the kubelet's on a node) was "
        "unlinked or moved away while the container kept running: its output since then is "
        "unreadable by `docker logs`, `kubectl logs` and shippers."),
    response=(
        "Capture the container's processes and open files now (the engine still holds the "
        "unlinked log open: /proc/<pid>/fd of dockerd). Find who had write access to the "
        "engine's data root on the host."),
    data_sources=("container-logs", "docker-events", "containerd"),
)


class ContainerLogDeleted(AnalyticBase, about=ABOUT):
    # observe acts on docker engine events (any dataset), on a node agent's containerd task events
    # (a pod's container ended), and on container-log events (any module).
    datasets: ClassVar[frozenset[str]] = frozenset({"docker.container_logs"})
    modules: ClassVar[frozenset[str]] = frozenset({"docker", "containerd"})
    reads: ClassVar[tuple[str, ...] | None] = ()  # its alerts show the file, nothing of the policy's

    def __init__(self, policy: Policy) -> None:
        self._pending: dict[str, Event] = {}  # container id -> deletion event
        self._ended: dict[str, float] = {}  # container id -> when it died / was destroyed
        # At most the earliest time in each map, so that a tick can tell without a walk over either
        # map that nothing in it is due yet. A NaN is due at once as a deletion (the grace test fails)
        # and never as an ending (the age test fails): -inf in the one bound, left out of the other.
        self._pending_oldest: float = float("inf")
        self._ended_oldest = float("inf")

    def observe(self, event: Event) -> list[Alert]:
        cid = str(event.get("container.id") or "")
        created = event.get("event.created")
        if not cid or isinstance(created, bool) or not isinstance(created, (int, float)):
            return []  # kept until a later tick does arithmetic on its time: a malformed one is never kept
        if (event.get("event.module") == "docker" and event.get("event.type") == "container"
                and event.get("event.action") in ("die", "destroy")) or \
                (event.get("event.dataset") == "containerd.task" and event.get("event.action") == "exit"):
            ended = self._ended[cid] = float(created)
            if ended < self._ended_oldest:
                self._ended_oldest = ended
            self._pending.pop(cid, None)
        elif event.get("event.dataset") == "docker.container_logs" and event.get("event.action") == "deleted" \
                and cid not in self._ended and self._pending.setdefault(cid, event) is event \
                and not created >= self._pending_oldest:
            self._pending_oldest = created if created == created else float("-inf")
        return []

    def tick(self, now: float) -> list[Alert]:
        alerts: list[Alert] = []
        if not now - self._pending_oldest < GRACE_S:  # a deletion may be due (a NaN now: look)
            alerts = self._due(now)
        # Forget ended containers after a while: ids are never reused, the map must not grow forever.
        if not now - self._ended_oldest <= 600:
            for cid, at in list(self._ended.items()):
                if now - at > 600:
                    del self._ended[cid]
            self._ended_oldest = min((at for at in self._ended.values() if at == at), default=float("inf"))
        return alerts

    def _due(self, now: float) -> list[Alert]:
        """Raise (or drop, when the container ended) every deletion held GRACE_S or longer."""
        alerts = []
        for cid, event in list(self._pending.items()):
            if now - float(event["event.created"]) < GRACE_S:
                continue
            del self._pending[cid]
            if cid in self._ended:
                continue
            alerts.append(Alert(
                rule_id=self.rule_id, title=self.title, severity=self.severity, techniques=self.techniques,
                object=f"container:{cid}", evidence=(event["event.id"],), first_seen=event["event.created"],
                response=self.response, source="analytic",
                context={"file.path": event.get("file.path"), "file.previous.size": event.get("file.previous.size")}))
        times = [event["event.created"] for event in self._pending.values()]
        self._pending_oldest = min((at if at == at else float("-inf") for at in times), default=float("inf"))
        return alerts
