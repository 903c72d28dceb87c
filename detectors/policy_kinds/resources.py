"""Policy kind ``resources``: workloads the platform sanctions to use more CPU and memory than the
resource analytics would otherwise allow a workload, and how much.

A CI build container compiles with every core it is given; a miner does the same. What tells them
apart is provenance, not a name: the sanction binds to the platform's signed CI image run as built
(``detectors.sanction``), and bounds it with a budget. The resource analytics then hold a sanctioned
container to its budget instead of to the fixed ceiling for workloads without a baseline.

Enrichment (on ``linux.resources`` samples): ``policy.resources.sanction`` (the entry's name), and
``policy.resources.cpu_cores_budget`` / ``policy.resources.memory_bytes_budget``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from detectors.event import Event
from detectors.policies import register_policy_kind
from detectors.sanction import Provenanced, ProvenanceKind
from detectors.schema import Entry, PolicyError, directory_beside, positive, setting


@dataclass(frozen=True, slots=True)
class ResourceSanction(Entry):
    match: Provenanced = setting(doc="the workload, by provenance")
    cpu_cores: float | None = setting(None, check=positive, doc="the most CPU it may use, sustained, in cores")
    memory_bytes: int | None = setting(None, check=positive, doc="the most memory it may use")

    def validate(self, path: Path, where: str) -> None:
        if self.cpu_cores is None and self.memory_bytes is None:
            raise PolicyError(path, where.rstrip("."), "give a cpu_cores or a memory_bytes budget")


@register_policy_kind
@dataclass(slots=True)
class ResourcesPolicy(ProvenanceKind):
    kind: ClassVar[str] = "resources"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.resources.",)
    # A workload's stored seasonal history sanctions its usual peaks (each file is one sanction).
    sanction_lists: ClassVar[tuple[str, ...]] = ("sanctioned_heavy_workloads", "seasonal_history")
    applies_to: ClassVar[frozenset[str]] = frozenset({"linux.resources"})  # enrich tests it first
    sanctioned: tuple[ResourceSanction, ...] = setting((), key="sanctioned_heavy_workloads",
                                                       doc="workloads with a resource budget")
    history: tuple[Path, ...] = setting((), key="seasonal_history", parse=directory_beside,
                                        doc="directories of stored seasonal history (relative to the policy file)")

    def enrich(self, event: Event) -> None:
        if event.get("event.dataset") != "linux.resources" or not event.get("container.id"):
            return
        hit = None
        for sanction in self.sanctioned:  # a loop, not next(genexpr): this runs on every resource sample
            if sanction.match.matches(event, self.platform):
                hit = sanction
                break
        if hit is None:
            return
        event["policy.resources.sanction"] = hit.name
        if hit.cpu_cores is not None:
            event["policy.resources.cpu_cores_budget"] = hit.cpu_cores
        if hit.memory_bytes is not None:
            event["policy.resources.memory_bytes_budget"] = hit.memory_bytes
