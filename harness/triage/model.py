"""What the triage loaders hand over and what ``triage`` returns (see the package docstring)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detectors.alert import Alert
from detectors.event import Event

NOT_SEEN = "not in the telemetry"
DEFAULT_EVENTS = 8  # lines of each kind of activity


AROUND_S = 30.0  # events this long after the alert still count as "around" it
SHORT_ID = 12  # the length `docker ps` shows ids in
ROOT = Path(__file__).resolve().parents[2]  # the repository: harness/triage/model.py


class TriageError(Exception):
    """Input explain-alert refuses (no such run, no such alert, an ambiguous prefix); names the thing."""


# --- what the loaders hand over -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunAlert:
    """One alert of the run, with the scenarios the run attributed it to."""

    alert: Alert
    scenarios: tuple[str, ...]

    @property
    def short_object(self) -> str:
        return short(self.alert.object)


@dataclass(frozen=True, slots=True)
class Signed:
    """A verified signature over an image id: who signed it, as what, built to run which command."""

    signer: str
    identity: str
    command: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class PlatformFacts:
    """The platform's answers recorded with the run (run.json ``platform``), verified offline."""

    recorded: bool  # False: run.json has no platform facts, so no signature and no network is known
    signatures: Mapping[str, tuple[Signed, ...]]  # image id -> verified signatures
    networks: Mapping[str, str]  # network id -> "purpose" ("lan", "dev (orchestrated)")


@dataclass(frozen=True, slots=True)
class DetectorDoc:
    """What the detector's ADS document says could make its alert benign, and what it reads."""

    rule_id: str
    kind: str  # "sigma", "analytic", or "unknown" (not among the loaded detectors)
    title: str
    source: str
    document: str | None  # docs/detections/<rule>.md, when there is one
    falsepositives: tuple[str, ...]
    twins: tuple[str, ...]  # benign scenarios that must stay silent under it
    policy_fields: tuple[str, ...] | None  # the policy.* fields it reads ("x." a prefix); None: undeclared


@dataclass(frozen=True, slots=True)
class PolicyWrite:
    """A field a policy section wrote on an evidence event when the policy enriched it."""

    event_id: str
    field: str
    value: Any
    kind: str


@dataclass(frozen=True, slots=True)
class Need:
    """A fact a sanction needs, and whether the recorded event shows it (None: not evaluated)."""

    what: str
    holds: bool | None


@dataclass(frozen=True, slots=True)
class SanctionCheck:
    """One sanction entry of a policy kind the rule reads, held against an event of the workload."""

    kind: str
    list_key: str
    name: str
    owner: str
    description: str
    file: str
    event_id: str | None  # the event its provenance was checked on
    needs: tuple[Need, ...]
    further: tuple[str, ...]  # its other conditions (setting keys), not evaluated here


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The rule run again on an enriched evidence event with one policy field set otherwise."""

    event_id: str
    field: str
    value: bool
    silences: bool  # the rule would not have matched


@dataclass(frozen=True, slots=True)
class PolicyContext:
    source: str  # which policy answered
    writes: tuple[PolicyWrite, ...]
    files: Mapping[str, tuple[str, ...]]  # kind -> the files that set it
    declared: Mapping[str, tuple[str, ...]]  # kind -> the fields it declares it writes (when it does)
    sanctions: tuple[SanctionCheck, ...]
    kind_docs: Mapping[str, str]  # kind -> what it is (its module's first sentence)
    # For a Sigma rule: whether today's rule matches each enriched evidence event, and what it would
    # have done with each yes/no policy field it reads set otherwise. None: not a Sigma rule.
    matched: tuple[tuple[str, bool], ...] | None = None
    what_if: tuple[WhatIf, ...] = ()


# --- what triage returns ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fact:
    name: str
    value: str | None  # None: not in the telemetry
    event_id: str | None = None  # the event it was read from


@dataclass(frozen=True, slots=True)
class EventLine:
    at: float
    event_id: str
    what: str
    detail: str
    evidence: bool
    repeats: int = 1  # identical lines folded into this one (the latest)


@dataclass(frozen=True, slots=True)
class RelatedAlert:
    rule_id: str
    object: str
    at: float
    scenarios: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicyField:
    """A policy field the rule reads: who sets it, in which files, and its value on each evidence event."""

    field: str
    kinds: tuple[str, ...]
    files: tuple[str, ...]
    values: tuple[tuple[str, str], ...]  # (event id, value or "not set")


@dataclass(frozen=True, slots=True)
class Workload:
    object: str
    facts: tuple[Fact, ...]


@dataclass(frozen=True, slots=True)
class Deployment:
    engine: tuple[EventLine, ...]
    facts: tuple[Fact, ...]


@dataclass(frozen=True, slots=True)
class Activity:
    limit: int
    processes: tuple[EventLine, ...]
    network: tuple[EventLine, ...]
    files: tuple[EventLine, ...]
    evidence: tuple[EventLine, ...]
    missing_evidence: tuple[str, ...]  # evidence ids no recorded event has


@dataclass(frozen=True, slots=True)
class Related:
    image_id: str | None
    same_object: tuple[RelatedAlert, ...]
    same_image: tuple[RelatedAlert, ...]


@dataclass(frozen=True, slots=True)
class Benign:
    detector: DetectorDoc
    policy_source: str
    fields: tuple[PolicyField, ...]
    written: tuple[PolicyWrite, ...]  # what else the kinds it reads wrote on the evidence (an entry's name)
    sanctions: tuple[SanctionCheck, ...]  # those of the kinds that could make it benign
    matched: tuple[tuple[str, bool], ...] | None  # today's rule on each enriched evidence event (None: analytic)
    what_if: tuple[WhatIf, ...]
    sanctioning_kinds: tuple[str, ...]
    kinds: Mapping[str, str]  # every kind behind a field it reads -> what the kind is


@dataclass(frozen=True, slots=True)
class Triage:
    run_id: str
    alerts_from: str
    alert: RunAlert
    workload: Workload
    deployment: Deployment
    activity: Activity
    related: Related
    benign: Benign

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["alert"] = {"alert": self.alert.alert.to_dict(), "scenarios": list(self.alert.scenarios)}
        return json.loads(json.dumps(data, default=str))  # tuples become lists: what --json prints

    def render(self) -> str:
        from harness.triage.render import render  # the text lives beside the listing; it reads this module

        return render(self)


# --- small helpers ------------------------------------------------------------------------------------


def short(ref: str) -> str:
    """``container:<64 hex>`` as ``container:<12 hex>``; other references as they are."""
    kind, _, ident = ref.partition(":")
    return f"{kind}:{ident[:SHORT_ID]}" if kind in ("container", "service", "pod") else ref


def when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def shown(value: Any) -> str:
    """A field's value as one line a person reads: empty values say they are empty."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(shown(v) for v in value) if value else "none"
    if value == "":
        return "(empty: the engine's default)"
    return str(value)


def literal(value: Any) -> str:
    """A policy field's value as the rules compare it (true, false, "name")."""
    return json.dumps(value, default=str)


def _created(event: Event) -> float:
    return float(event.get("event.created", 0.0))


def _id_of(ref: str) -> str:
    return ref.partition(":")[2]

