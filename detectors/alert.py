"""The Alert: what a rule or an analytic raises, with the evidence that made it fire."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("informational", "low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Alert:
    rule_id: str  # stable id of the rule or analytic, e.g. "stowaway.docker.log-driver-none"
    title: str  # one line a responder reads first
    severity: str  # one of SEVERITIES (Sigma's "level")
    techniques: tuple[str, ...]  # ATT&CK technique ids, in the pinned ATT&CK version
    object: str  # what it concerns: "container:<id>", "service:<id>", "node:<id>", "file:<path>"
    evidence: tuple[str, ...]  # event.id of every event that triggered it
    first_seen: float  # sensor timestamp of the earliest evidence event (epoch seconds)
    raised_at: float = field(default_factory=time.time)  # when the detector raised it
    response: str = ""  # what a responder should do first
    source: str = "sigma"  # "sigma" or "analytic"
    data_source: str = ""  # the sensor whose event triggered it ("docker-events", "tracefs-exec", ...)
    context: dict[str, Any] = field(default_factory=dict)  # a few fields of the evidence, for humans

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["techniques"] = list(self.techniques)
        data["evidence"] = list(self.evidence)
        return data
