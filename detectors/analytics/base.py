"""The analytic interface: Python detectors for logic that needs state (baselines, diffs, rates).

An analytic sees every enriched event in order, and a clock tick once a second, and returns the
alerts it raises. It never sees scenario ids or lab bookkeeping: only events.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from detectors.alert import Alert
from detectors.event import Event


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
