"""Policy kind ``logging``: contexts where minimal or no logging is sanctioned.

Bound to what the platform controls (a dev network the platform made, known by id; a signed image
run as built), never to names or labels. Enrichment: ``policy.logging.sanctioned`` and the
sanction's name, on events that carry a container's log driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from detectors.event import Event
from detectors.policies import record, register_policy_kind
from detectors.sanction import Provenanced, ProvenanceKind
from detectors.schema import Entry, setting


@dataclass(frozen=True, slots=True)
class LoggingSanction(Entry):
    match: Provenanced = setting(doc="where minimal logging is sanctioned, by provenance")


@register_policy_kind
@dataclass(slots=True)
class LoggingPolicy(ProvenanceKind):
    kind: ClassVar[str] = "logging"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.logging.sanctioned", "policy.logging.sanction")
    sanction_lists: ClassVar[tuple[str, ...]] = ("sanctioned_minimal_logging",)
    requires_field: ClassVar[str] = "container.logging.driver"  # enrich tests it first (detectors.routing)
    sanctioned: tuple[LoggingSanction, ...] = setting((), key="sanctioned_minimal_logging",
                                                      doc="where a container may log little or nothing")

    def enrich(self, event: Event) -> None:
        if "container.logging.driver" not in event:
            return
        hit = next((s for s in self.sanctioned if s.match.matches(event, self.platform)), None)
        record(event, "policy.logging.sanctioned", "policy.logging.sanction", hit)
