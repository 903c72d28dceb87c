"""Figures and the reports they go to: ``reports/<name>.json`` for machines, ``<name>.md`` for people.

A figure is one measured value against one target. Targets are one-sided: ``<=`` (a latency, a
ratio of wall times, a CPU share) or ``>=`` (a throughput ratio). A missed figure also says by how
much: the factor between the value and the target, and the absolute difference. A figure that could
not be measured (a drill skipped because other runs share the engine) carries the reason and no
verdict, never a made-up number.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation between closest ranks (numpy's default).

    Raises:
        ValueError: no values, or p outside 0..100.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    if ordered[low] == ordered[high]:  # also keeps inf (a repetition that never alerted) from turning nan
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, with a zero denominator giving inf (never a ZeroDivisionError)."""
    if denominator == 0:
        return math.inf if numerator else 0.0
    return numerator / denominator


@dataclass(slots=True)
class Figure:
    name: str  # short key: "latency.docker-events.p95"
    measure: str  # what it is, in words
    value: float | None  # None: not measured (see skipped)
    target: float | None  # None: reported only, no target
    op: str = "<="  # "<=" or ">="
    unit: str = ""
    detail: dict[str, Any] = field(default_factory=dict)  # inputs of the figure (samples, counts)
    skipped: str = ""  # why it was not measured

    @property
    def status(self) -> str:
        if self.skipped or self.value is None:
            return "skipped"
        if self.target is None:
            return "reported"
        ok = self.value <= self.target if self.op == "<=" else self.value >= self.target
        return "pass" if ok else "miss"

    @property
    def miss_by(self) -> dict[str, float] | None:
        """How far from the target: absolute difference and the factor (value/target or target/value)."""
        if self.status != "miss" or self.value is None or self.target is None:
            return None
        if self.op == "<=":
            return {"over": self.value - self.target, "factor": ratio(self.value, self.target)}
        return {"under": self.target - self.value, "factor": ratio(self.target, self.value)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        value = data.get("value")
        return cls(name=data["name"], measure=data["measure"], value=float(value) if isinstance(value, str) else value,
                   target=data.get("target"), op=data.get("op", "<="), unit=data.get("unit", ""),
                   detail=dict(data.get("detail") or {}), skipped=data.get("skipped", ""))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.value, float) and not math.isfinite(self.value):
            out["value"] = str(self.value)  # strict JSON has no inf/nan
        out["status"] = self.status
        out["miss_by"] = self.miss_by
        return out


@dataclass(slots=True)
class Report:
    name: str  # "bench" or "drills"
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    def add(self, figures: Figure | Iterable[Figure]) -> None:
        self.figures.extend([figures] if isinstance(figures, Figure) else figures)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "miss": 0, "skipped": 0, "reported": 0}
        for fig in self.figures:
            out[fig.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.name, "started_at": self.started_at, "finished_at": time.time(),
            "machine": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": _cpu_count()},
            "counts": self.counts(), "notes": self.notes, "figures": [f.to_dict() for f in self.figures],
        }

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """Write ``<name>.json`` and ``<name>.md`` (each replaced whole: a temp file, then a rename)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        json_path, md_path = out_dir / f"{self.name}.json", out_dir / f"{self.name}.md"
        _write(json_path, json.dumps(data, indent=2, default=_jsonable) + "\n")
        _write(md_path, markdown(data))
        return json_path, md_path


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, str) or (isinstance(value, float) and not math.isfinite(value)):
        return f"{value} {unit}".strip()  # "inf": a repetition never alerted (strict JSON holds it as text)
    text = f"{value:.3g}" if isinstance(value, float) and abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def figures_markdown(data: dict[str, Any]) -> str:
    """The counts line and the figures table of a report's JSON (no title, no notes)."""
    counts = data["counts"]
    lines = [f"{counts['pass']} pass, {counts['miss']} miss, {counts['skipped']} skipped, "
             f"{counts['reported']} reported only; {data['machine']['cpus']} CPUs, Python {data['machine']['python']}.",
             "", "| figure | measure | value | target | status | missed by |", "|---|---|---|---|---|---|"]
    for fig in data["figures"]:
        target = "-" if fig["target"] is None else f"{fig['op']} {_fmt(fig['target'], fig['unit'])}"
        miss = fig["miss_by"]
        missed = ""
        if miss:
            gap = miss.get("over", miss.get("under", 0.0))
            missed = f"{_fmt(gap, fig['unit'])} ({_fmt(miss['factor'])}x)"
        value = f"skipped: {fig['skipped']}" if fig["skipped"] else _fmt(fig["value"], fig["unit"])
        lines.append(f"| `{fig['name']}` | {fig['measure']} | {value} | {target} | {fig['status']} | {missed} |")
    return "\n".join(lines) + "\n"


def markdown(data: dict[str, Any]) -> str:
    text = f"# {data['report']}\n\n{figures_markdown(data)}"
    if data["notes"]:
        text += "\n## Notes\n\n" + "".join(f"- {note}\n" for note in data["notes"])
    return text
