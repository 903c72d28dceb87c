"""Outcomes: what happened to one scenario in one run, and the run that holds them."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.external.grading import DetectorReport


class Verdict(enum.StrEnum):
    DETECTED = "detected"  # adversary: every expected rule fired before its deadline
    MISSED = "missed"  # adversary: an expected rule did not fire in time
    SILENT = "silent"  # benign: the watched rules stayed quiet for the whole window
    FALSE_POSITIVE = "false_positive"  # benign: a watched rule fired
    ERROR = "error"  # the scenario or the lab failed; nothing can be concluded
    SKIPPED = "skipped"  # cannot run here (backend missing, capability absent), with a reason

    @property
    def passed(self) -> bool:
        # A skip is not a pass: a run whose adversaries all skip proved nothing. `stowaway run
        # --allow-skips` tolerates skips explicitly, and still reports each one with its reason.
        return self in (Verdict.DETECTED, Verdict.SILENT)


class Visibility(enum.StrEnum):
    """VECTR-style depth of what the defender got, best first (no blocking in this lab)."""

    ALERTED = "alerted"  # a rule fired on it
    LOGGED = "logged"  # the sensors saw its objects, but no expected rule fired
    NONE = "none"  # the sensors saw nothing of it


@dataclass(slots=True)
class RuleResult:
    rule_id: str
    fired: bool
    latency_s: float | None = None  # from the scenario's recorded action time to the alert
    alert_count: int = 0


@dataclass(frozen=True, slots=True)
class Collateral:
    """One alert on an adversary scenario's objects from a rule the scenario does not expect.

    Allowed collateral is a true positive of that rule (the object really is hostile, and the
    scenario's ``may_fire`` says why the rule is right to fire); unlisted collateral is a false
    positive of that rule, and fails the run.
    """

    rule_id: str
    object: str  # the object the alert concerns ("container:<id>", ...)
    allowed: bool  # the scenario's expect.may_fire names the rule
    reason: str = ""  # the scenario's sentence when allowed; empty when unlisted


@dataclass(slots=True)
class ResponseResult:
    """What a playbook did to an adversary's workload in ``run --respond``, and what proved it."""

    playbook: str
    trigger: str  # the detector whose alert set it off
    object: str  # the ref acted on ("container:<id>")
    action: str  # "quarantine", "pause" or "none"
    alert_at: float  # when the trigger's first alert on the object was raised
    contained_at: float | None = None  # when the containment was in place (None: it was not)
    contained: bool = False  # the checks below proved the workload cut off (or frozen)
    checks: list[str] = field(default_factory=list)  # each containment check, passed or not, in words
    evidence: str = ""  # the bundle's path
    evidence_sha256: str = ""
    evidence_complete: bool = False
    evidence_missing: list[str] = field(default_factory=list)
    planted: list[str] = field(default_factory=list)  # "kind:value" the scenario planted on purpose
    planted_missing: list[str] = field(default_factory=list)  # of them, what the evidence lacks
    related: list[dict[str, Any]] = field(default_factory=list)  # cross-reference: other containers
    released: bool = False  # release restored the workload, proved by the release checks
    release_checks: list[str] = field(default_factory=list)
    error: str = ""  # what went wrong, when something did

    @property
    def time_to_contain_s(self) -> float | None:
        return None if self.contained_at is None else round(max(0.0, self.contained_at - self.alert_at), 3)

    @property
    def passed(self) -> bool:
        """Contained (when it had to), evidence with every planted indicator (when collected), released."""
        return (not self.error and (self.action == "none" or self.contained)
                and not self.planted_missing and (self.action == "none" or self.released))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time_to_contain_s"] = self.time_to_contain_s
        data["passed"] = self.passed
        return data


@dataclass(slots=True)
class Outcome:
    scenario_id: str
    title: str
    kind: str  # "adversary" or "benign"
    techniques: list[str]
    backend: str
    verdict: Verdict
    reason: str  # always says why, in a sentence
    visibility: Visibility = Visibility.NONE
    started_at: float = 0.0
    action_at: float | None = None  # when the scenario recorded its decisive action
    finished_at: float = 0.0
    latency_s: float | None = None  # worst latency over the expected rules (adversary only)
    rules: list[RuleResult] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # every alert attributed to it
    data_sources: list[str] = field(default_factory=list)  # sensors that saw its objects
    objects: list[str] = field(default_factory=list)  # what the lab reported it created
    # Alerts on an adversary's objects from rules outside its expected ones (benign: always empty,
    # every alert there is a false positive and decides the verdict).
    collateral: list[Collateral] = field(default_factory=list)
    # A variant run (scenarios.variants): the scenario it varies, and the value of each dimension it
    # did. A canonical run of a scenario that declares dimensions records its values too.
    variant_of: str | None = None
    variant: dict[str, Any] = field(default_factory=dict)
    # A variant that missed where a documented blind spot of its rule says it would ("<rule>: <text>";
    # harness.blind_spots): still missed, and counted so by robustness, but a known gap rather than a
    # failure of the run. A lost detection is never one (the gate compares with the baseline).
    known_blind_spot: str | None = None
    # ``run --respond``: what the playbook did and proved (None: no response ran for it).
    response: ResponseResult | None = None
    # A recorded run: explain-alert's triage, cut short, of the alerts an analyst opens first
    # (harness.scorecard.triage); empty when the run was not recorded.
    triage: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unlisted_collateral(self) -> list[Collateral]:
        return [c for c in self.collateral if not c.allowed]

    @property
    def passed(self) -> bool:
        """The verdict passed, no rule raised a false positive on the scenario's objects, and a
        response, when one ran (``--respond``), did its job. The verdict itself stays about the
        expected rules (detected or missed)."""
        return self.verdict.passed and not self.unlisted_collateral and (self.response is None or self.response.passed)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        data["visibility"] = self.visibility.value
        data["response"] = None if self.response is None else self.response.to_dict()
        return data


@dataclass(slots=True)
class FleetService:
    """One service of the benign fleet (the soak): what it is and what was seen to really happen."""

    name: str  # neutral service name ("web", "ledger-db", ...)
    does: str  # one line: what it does the way it does in the wild
    objects: list[str] = field(default_factory=list)  # what the lab reported it created (refs)
    checks: list[str] = field(default_factory=list)  # evidence that it really did its job
    healthy: bool = True  # False: it did not do its job (the soak is then an error, not a pass)


@dataclass(slots=True)
class SoakResult:
    """A run of the realistic benign fleet. Every alert on its objects is a false positive."""

    minutes: float  # how long the fleet ran under watch
    started_at: float
    finished_at: float
    status: str  # "complete" or "error"
    reason: str  # one sentence: what happened, or why it is an error
    services: list[FleetService] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # Alert.to_dict() of each false positive

    @property
    def passed(self) -> bool:
        return self.status == "complete" and not self.alerts


@dataclass(slots=True)
class RunResult:
    run_id: str
    attack_version: str  # the pinned ATT&CK version every technique id refers to
    backend: str
    started_at: float
    finished_at: float
    outcomes: list[Outcome]
    status: str = "complete"  # "complete" or "aborted"
    environment: dict[str, Any] = field(default_factory=dict)
    soak: SoakResult | None = None  # the benign fleet's soak, when one ran
    # Other detectors graded on the same outcomes (``--alerts-from``); they never change the
    # embedded detectors' verdicts or the run's pass/fail.
    external: list[DetectorReport] = field(default_factory=list)

    def failures(self, allow_skips: bool = False) -> list[Outcome]:
        """Outcomes that make the run fail; skips are left out only when ``allow_skips`` says so."""
        return [o for o in self.outcomes
                if not o.passed and not (allow_skips and o.verdict is Verdict.SKIPPED) and not o.known_blind_spot]

    def passed_with(self, allow_skips: bool = False) -> bool:
        return self.status == "complete" and not self.failures(allow_skips) and \
            (self.soak is None or self.soak.passed)

    @property
    def passed(self) -> bool:
        """Strict: a skip, unlisted collateral or a soak alert fails the run."""
        return self.passed_with(allow_skips=False)
