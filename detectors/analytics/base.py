"""The analytic interface: Python detectors for logic that needs state (baselines, diffs, rates).

An analytic sees every enriched event in order, and a clock tick once a second, and returns the
alerts it raises. It never sees scenario ids or lab bookkeeping: only events.

What a detector is (its id, title, severity, ATT&CK techniques, response, the sensors it needs) is
declared once, as an ``About`` handed to the class (``class X(AnalyticBase, about=ABOUT)``):
checked when the class is defined, and read by the engine, the catalogue and the ADS documents
from the class attributes it sets, the same ones a plugin's analytic may set by hand.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol

from detectors.alert import Alert
from detectors.event import Event

SEVERITIES = ("low", "medium", "high", "critical")
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")


class Analytic(Protocol):
    rule_id: ClassVar[str]  # "stowaway.analytic.<name>", the id expectations name
    title: ClassVar[str]
    severity: ClassVar[str]
    techniques: ClassVar[tuple[str, ...]]
    description: ClassVar[str]
    response: ClassVar[str]
    data_sources: ClassVar[tuple[str, ...]]  # sensor names it needs

    def observe(self, event: Event) -> list[Alert]: ...

    def tick(self, now: float) -> list[Alert]: ...


@dataclass(frozen=True, slots=True)
class About:
    """What an analytic is, for the people and tools that read it."""

    rule_id: str  # "stowaway.analytic.<name>"
    title: str
    severity: str  # one of SEVERITIES
    techniques: tuple[str, ...]  # ATT&CK ids
    response: str  # what an analyst does first
    data_sources: tuple[str, ...]  # the sensors it needs
    description: str = ""  # default: the docstring of the module that defines it
    blindspots: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        found = [] if self.severity in SEVERITIES else [f"severity {self.severity!r} (known: {', '.join(SEVERITIES)})"]
        found += [f"technique {t!r} is not an ATT&CK id" for t in self.techniques if not _TECHNIQUE.match(t)]
        found += [f"{name} is empty" for name in ("rule_id", "title", "response", "techniques", "data_sources")
                  if not getattr(self, name)]
        return found


class AnalyticBase:
    """Optional base: declare ``about=About(...)`` and write ``observe`` (and ``tick`` if it keeps time)."""

    __slots__ = ()
    rule_id: ClassVar[str]
    title: ClassVar[str]
    severity: ClassVar[str]
    techniques: ClassVar[tuple[str, ...]]
    description: ClassVar[str]
    response: ClassVar[str]
    data_sources: ClassVar[tuple[str, ...]]
    blindspots: ClassVar[tuple[str, ...]]
    falsepositives: ClassVar[tuple[str, ...]]
    # The policy sections' fields it reads (detectors.routing); None: undeclared, so every section
    # enriches what it sees. ``reads_on`` adds what it reads on one dataset only.
    reads: ClassVar[tuple[str, ...] | None] = None
    reads_on: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __init_subclass__(cls, about: About | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if about is None:
            return  # a shared parent (its subclasses declare theirs)
        problems = about.problems()
        if problems:
            raise TypeError(f"{cls.__module__}.{cls.__qualname__}: {'; '.join(problems)}")
        for field in fields(about):
            setattr(cls, field.name, getattr(about, field.name))
        if not about.description:
            cls.description = (sys.modules[cls.__module__].__doc__ or "").strip()

    def observe(self, event: Event) -> list[Alert]:
        raise NotImplementedError

    def tick(self, now: float) -> list[Alert]:
        return []
