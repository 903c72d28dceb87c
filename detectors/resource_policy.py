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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.platform import UNBOUND, Platform
from detectors.policies import PolicyError, _expect, _known, register_policy_kind
from detectors.sanction import Provenanced


@dataclass(frozen=True, slots=True)
class ResourceSanction:
    name: str
    owner: str
    description: str
    match: Provenanced
    cpu_cores: float | None  # the most it may use, sustained; None: not sanctioned for CPU
    memory_bytes: int | None


def _positive(value: Any, path: Path, name: str, kind: type[int] | tuple[type[int], type[float]]) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        raise PolicyError(path, name, f"expected a positive number, got {value!r}")
    return value


@register_policy_kind
@dataclass(slots=True)
class ResourcesPolicy:
    kind: ClassVar[str] = "resources"
    # A workload's stored seasonal history sanctions its usual peaks (each file is one sanction).
    sanction_lists: ClassVar[tuple[str, ...]] = ("sanctioned_heavy_workloads", "seasonal_history")
    applies_to: ClassVar[frozenset[str]] = frozenset({"linux.resources"})  # enrich tests it first
    sanctioned: list[ResourceSanction] = field(default_factory=list)
    history: list[Path] = field(default_factory=list)  # directories of stored seasonal history
    platform: Platform = UNBOUND

    def bind(self, policy: Any) -> None:
        self.platform = Platform(policy)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "sanctioned_heavy_workloads", "seasonal_history"), path, "")
        for i, rel in enumerate(_expect(body.get("seasonal_history", []), list, path, "seasonal_history")):
            directory = (path.parent / _expect(rel, str, path, f"seasonal_history[{i}]")).resolve()
            if not directory.is_dir():
                raise PolicyError(path, f"seasonal_history[{i}]", f"{directory} is not a directory")
            self.history.append(directory)
        entries = _expect(body.get("sanctioned_heavy_workloads", []), list, path, "sanctioned_heavy_workloads")
        for i, entry in enumerate(entries):
            where = f"sanctioned_heavy_workloads[{i}]."
            _expect(entry, dict, path, where.rstrip("."))
            _known(entry, ("name", "owner", "description", "match", "cpu_cores", "memory_bytes"), path, where)
            for required in ("name", "owner", "description", "match"):
                if required not in entry:
                    raise PolicyError(path, f"{where}{required}", "missing")
            cpu = _positive(entry.get("cpu_cores"), path, f"{where}cpu_cores", (int, float))
            memory = _positive(entry.get("memory_bytes"), path, f"{where}memory_bytes", int)
            if cpu is None and memory is None:
                raise PolicyError(path, where.rstrip("."), "give a cpu_cores or a memory_bytes budget")
            self.sanctioned.append(ResourceSanction(
                name=_expect(entry["name"], str, path, f"{where}name"),
                owner=_expect(entry["owner"], str, path, f"{where}owner"),
                description=_expect(entry["description"], str, path, f"{where}description"),
                match=Provenanced.load(entry["match"], path, f"{where}match."),
                cpu_cores=float(cpu) if cpu is not None else None, memory_bytes=memory))

    def enrich(self, event: Event) -> None:
        if event.get("event.dataset") != "linux.resources" or not event.get("container.id"):
            return
        hit = next((s for s in self.sanctioned if s.match.matches(event, self.platform)), None)
        if hit is None:
            return
        event["policy.resources.sanction"] = hit.name
        if hit.cpu_cores is not None:
            event["policy.resources.cpu_cores_budget"] = hit.cpu_cores
        if hit.memory_bytes is not None:
            event["policy.resources.memory_bytes_budget"] = hit.memory_bytes
