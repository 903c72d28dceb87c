"""A Swarm service changed into a spec nobody declared: spec diff against its previous version and
against the declared state in the orchestration policy.

Why stateful: "what changed" needs the version before. Swarm keeps one (``PreviousSpec``), which the
swarm-state sensor flattens; this analytic also remembers every spec it saw, so a second update
in a row is compared with what really ran before it. An update is judged on the aspects it
changed that a defender cares about (image, logging, mounts, capabilities): if the service is
declared, each changed aspect must stay within its declaration; if it is not declared, any such
change is drift. A rollout by the approved deployer that stays within the declaration (a new
image version from the approved repository, replicas, environment) raises nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

from detectors.alert import Alert
from detectors.analytics.base import About, AnalyticBase
from detectors.event import Event
from detectors.platform import Platform
from detectors.policies import Policy
from detectors.sensors.swarm_state import changed_aspects

WATCHED_ASPECTS = ("image", "logging", "mounts", "capabilities")
PREVIOUS = "orchestrator.service.previous."


ABOUT = About(
    rule_id="stowaway.analytic.swarm-service-drift",
    title="Swarm service updated to an undeclared spec",
    severity="high",
    techniques=("T1610", "T1562.001", "T1543.005"),
    description=(
        "A service update changed its image, logging, mounts or capabilities outside what "
        "the orchestration policy declares for it."),
    response=(
        "Compare `docker service inspect` Spec and PreviousSpec; roll back with "
        "`docker service rollback` if no approved change explains it, and find who holds "
        "manager access."),
    data_sources=("swarm-state",),
)


class ServiceSpecDrift(AnalyticBase, about=ABOUT):
    datasets: ClassVar[frozenset[str]] = frozenset({"swarm.services"})  # observe tests it first
    reads: ClassVar[tuple[str, ...] | None] = ()  # the spec's own fields; the policy's by its own lookup

    def __init__(self, policy: Policy) -> None:
        self.orchestration = policy.section("orchestration")
        self.platform = Platform(policy)
        self._last: dict[str, dict[str, Any]] = {}  # service id -> flattened spec last seen

    def _spec(self, event: Event) -> dict[str, Any]:
        return {k: v for k, v in event.items() if k.startswith(("container.", "process.", "orchestrator.service."))
                and not k.startswith(PREVIOUS)}

    def observe(self, event: Event) -> list[Alert]:
        if event.get("event.dataset") != "swarm.services":
            return []
        sid = str(event.get("orchestrator.resource.id") or "")
        current = self._spec(event)
        before = self._last.get(sid)
        self._last[sid] = current
        if event.get("event.action") != "update":
            return []
        if before is None:
            before = {k[len(PREVIOUS):]: v for k, v in event.items() if k.startswith(PREVIOUS)}
        if not before:
            return []
        changed = [a for a in changed_aspects(current, before) if a in WATCHED_ASPECTS]
        if not changed:
            return []
        name = str(event.get("orchestrator.resource.name") or "")
        declared = self.orchestration.declared_service(name) if self.orchestration else None
        if declared is None:
            reasons = [f"{a} changed on an undeclared service" for a in changed]
        else:
            reasons = declared.violations(current, self.platform)
        if not reasons:
            return []
        return [Alert(
            rule_id=self.rule_id, title=self.title, severity=self.severity, techniques=self.techniques,
            object=f"service:{sid}", evidence=(event["event.id"],), first_seen=event["event.created"],
            response=self.response, source="analytic",
            context={"orchestrator.resource.name": name, "changed": changed, "violations": reasons,
                     "declared_as": declared.name if declared else None,
                     "container.image.name": current.get("container.image.name"),
                     "previous.image": before.get("container.image.name")})]

    def tick(self, now: float) -> list[Alert]:
        return []
