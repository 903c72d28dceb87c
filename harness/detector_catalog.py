"""Every detector the lab ships, as documentation sees it: Sigma rules and Python analytics alike.

`stowaway explain` and the ADS generator (harness/ads.py) read detectors through this one view,
so a rule's title or false positives read the same in both.

Optional documentation attributes. Sigma allows custom top-level attributes; our engine and pySigma
keep them. A rule file (or an analytic class, as a ClassVar of the same name) may carry:

``goal``               one paragraph: what behaviour the detector exists to catch (ADS "Goal").
``technical_context``  how the telemetry arises and what the fields mean (ADS "Technical Context").
``blindspots``         list of strings: where the detector cannot see (ADS "Blind Spots and Assumptions").
``assumptions``        list of strings: what it takes for granted about the platform.
``response``           what a responder does first (already used by alerts).
``falsepositives``     standard Sigma; analytics may set it too.

All are optional: the documents fall back to text derived from the logsource, tags and level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.analytics import FACTORIES
from detectors.engine import DEFAULT_RULE_DIR, load_rules
from detectors.sigma.loader import read_rule_document

DOC_ATTRIBUTES = ("goal", "technical_context", "blindspots", "assumptions")


@dataclass(slots=True)
class DetectorInfo:
    rule_id: str
    kind: str  # "sigma" or "analytic"
    title: str
    description: str
    level: str
    techniques: tuple[str, ...]
    tactics: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = ()
    response: str = ""
    source: str = ""  # rule file path, or the analytic's module:class
    logsource: dict[str, str] = field(default_factory=dict)
    data_sources: tuple[str, ...] = ()
    status: str | None = None
    references: tuple[str, ...] = ()
    goal: str = ""
    technical_context: str = ""
    blindspots: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    detection: dict[str, Any] = field(default_factory=dict)  # the Sigma detection block, as written


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def sigma_detectors(rule_dirs: Sequence[Path] = ()) -> list[DetectorInfo]:
    """The Sigma rules under ``rule_dirs`` (the shipped rules by default). Raises SigmaRuleError."""
    found = []
    for rule in load_rules(list(rule_dirs) or [DEFAULT_RULE_DIR]):
        raw = read_rule_document(Path(rule.path))
        source = rule.logsource
        found.append(DetectorInfo(
            rule_id=rule.rule_id, kind="sigma", title=rule.title, description=rule.description.strip(),
            level=rule.level, techniques=rule.techniques, tactics=rule.tactics, falsepositives=rule.falsepositives,
            response=rule.response.strip(), source=rule.path, status=rule.status,
            logsource={k: v for k, v in (("product", source.product), ("service", source.service),
                                          ("category", source.category)) if v},
            references=_strings(raw.get("references")), goal=_text(raw.get("goal")),
            technical_context=_text(raw.get("technical_context")), blindspots=_strings(raw.get("blindspots")),
            assumptions=_strings(raw.get("assumptions")), detection=dict(raw.get("detection") or {}),
        ))
    return found


def analytic_detectors() -> list[DetectorInfo]:
    found = []
    for factory in FACTORIES:
        found.append(DetectorInfo(
            rule_id=str(factory.rule_id), kind="analytic", title=str(getattr(factory, "title", factory.rule_id)),
            description=_text(getattr(factory, "description", "")) or (factory.__doc__ or "").strip(),
            level=str(getattr(factory, "severity", "medium")), techniques=tuple(getattr(factory, "techniques", ())),
            falsepositives=_strings(getattr(factory, "falsepositives", None)),
            response=_text(getattr(factory, "response", "")), source=f"{factory.__module__}:{factory.__qualname__}",
            data_sources=tuple(getattr(factory, "data_sources", ())),
            references=_strings(getattr(factory, "references", None)), goal=_text(getattr(factory, "goal", "")),
            technical_context=_text(getattr(factory, "technical_context", "")),
            blindspots=_strings(getattr(factory, "blindspots", None)),
            assumptions=_strings(getattr(factory, "assumptions", None)),
        ))
    return found


def all_detectors(rule_dirs: Sequence[Path] = ()) -> dict[str, DetectorInfo]:
    return {d.rule_id: d for d in [*sigma_detectors(rule_dirs), *analytic_detectors()]}
