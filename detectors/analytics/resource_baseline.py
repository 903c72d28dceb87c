"""Seasonal resource baseline: is this container's CPU or memory use usual for this workload, at
this hour of this weekday?

Workload identity
    The identity the platform's pipeline signed the container's image as, for a container that runs
    that image as built (``image=platform/reports``; ``detectors.identity.signed_identity``): a rebuilt
    image keeps its history, and nobody can borrow it. A name, a label or an image reference can be
    copied by anyone, so a container without a signed identity has no history: it is judged as a
    workload nobody knows.

History (stored data a user can inspect)
    ``detectors/baselines/resources/*.json`` (the ``resources`` policy's ``seasonal_history``), one
    file per workload (``"workload": {"identity": "platform/reports"}``): hourly observations
    ``[hour_start_utc, cpu_cores_p95, memory_bytes_p95]``, as a metrics store would export them.
    The one shipped file, reports.json, is synthetic (``"synthetic": true`` and a ``provenance``
    in the file): the lab has no fleet with weeks of history, so it was generated to stand in for an
    export. The loader ignores those fields; they are for the reader.

Model
    Observations are grouped by (weekday, hour) on the detectors' clock (UTC; detectors/clock.py,
    which the harness may set). For the current bucket:
        expected = median of the bucket's history
        spread   = 1.4826 * MAD (median absolute deviation: a robust standard deviation, so one
                   odd week in the history does not widen the band)
        ceiling  = expected + max(K * spread, MIN_MARGIN, RELATIVE_MARGIN * expected)
    with K = 4, MIN_MARGIN = 0.2 cores (CPU) or 64 MiB (memory), RELATIVE_MARGIN = 0.25.
    A bucket needs MIN_HISTORY = 3 observations (three weeks of that weekday and hour) before the
    model trusts it.

Without history (no history file, or a bucket with too little of it)
    CPU is judged against a fixed ceiling, UNKNOWN_CPU = 0.4 cores, from the first sample: a
    workload nobody knows that pegs cores is what a miner looks like from its first second, and a
    CPU level costs whoever pays for the node whether it rose or not.
    Memory is not: a workload that holds 400 MiB steadily from its first second (a cache, a JVM, a
    service that loads its data at start) has a level, not a spike, and a level without history is
    a learning period. The container's first LEARN_S = 10 s of samples are its level (the highest
    value seen); no memory alert comes during them. Afterwards
        ceiling = max(UNKNOWN_MEMORY, level + max(MIN_MARGIN, RELATIVE_MARGIN * level))
    with UNKNOWN_MEMORY = 256 MiB: a balloon is growth against what the container itself held, and
    a small container must still grow past 256 MiB to count.

Sanctioned budgets
    A container the ``resources`` policy sanctions (the platform's signed CI runner, run as built)
    is held to its budget (``policy.resources.cpu_cores_budget``, ``...memory_bytes_budget``)
    instead of to the ceilings above: its budget is its ceiling.

Decision
    The cgroup sensor samples each container once a second. A container is anomalous when at least
    SUSTAIN = 6 of its last WINDOW = 10 samples exceed the ceiling: a spike must be sustained for
    about six seconds, which rides out start-up bursts, and tolerates a few samples below the
    ceiling when the host is contended (a miner competing with other load does not get a whole
    core every second). The first alert comes 6 s after the spike starts at the earliest. One
    alert per container per rule (the engine dedupes).

Blind spots
    A miner throttled below the ceiling (say 0.3 cores on an unknown workload, or within a known
    workload's band at its peak hour) is not flagged; the genuine signed image run as built, and
    steered through its inputs (environment, mounted files), keeps its workload's peak-hour band (a
    rebuilt, retagged or relabelled copy, or the image with another command, has none); history is
    only as good as the export it came from (and the shipped history is synthetic, not an export).
    The memory learning period lets through an adversary that starts at its full level: a container
    of an unknown workload that allocates 400 MiB within its first 10 s and never grows beyond
    1.25 times that is learned as its own level and never raises memory-spike (restarting the
    container starts the learning over, so neither does one that reaches its level by restarts).
    A container first seen by a monitor that started after it learns its level from then on.
"""

from __future__ import annotations

import json
import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from detectors.alert import Alert
from detectors.analytics.base import About, AnalyticBase
from detectors.clock import CLOCK, DetectorClock
from detectors.event import Event, object_ref
from detectors.identity import signed_identity
from detectors.platform import UNBOUND, Platform
from detectors.policies import Policy

BASELINE_DIR = Path(__file__).resolve().parent.parent / "baselines" / "resources"
WORKLOAD_LABEL = "app"
K = 4.0
MIN_HISTORY = 3
RELATIVE_MARGIN = 0.25
WINDOW = 10
SUSTAIN = 6
LEARN_S = 10.0
MIB = 1024 * 1024
_MAX_LEARNED = 4096  # containers whose learned level is kept; the oldest go first


def image_repository(image: str) -> str:
    """"registry:5000/team/app:1.2@sha256:..." -> "registry:5000/team/app"."""
    image = image.split("@", 1)[0]
    head, _, last = image.rpartition("/")
    name = last.split(":", 1)[0]
    return f"{head}/{name}" if head else name


def workload_key(event: Event, platform: Platform = UNBOUND) -> str | None:
    """``image=<signed identity>`` for a container that runs a signed image as built, else None."""
    return signed_identity(event, "container", platform)


def claimed_workload(event: Event) -> str:
    """What a container says it is, for people reading an alert (never for history)."""
    label = event.get(f"container.labels.{WORKLOAD_LABEL}") or ""
    return f"{image_repository(event.get('container.image.name') or '')}|{label}"


@dataclass(frozen=True, slots=True)
class Band:
    expected: float
    ceiling: float
    observations: int


@dataclass(slots=True)
class Baseline:
    """One workload's history, bucketed by (weekday, hour)."""

    buckets: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    # (weekday, hour, min_margin) -> (the history list and its length when computed, the band): the
    # medians are asked for on every sample, and a bucket's history changes only when added to.
    _bands: dict[tuple[int, int, float], tuple[list[float], int, Band | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def add(self, at: datetime, value: float) -> None:
        self.buckets.setdefault((at.weekday(), at.hour), []).append(value)

    def band(self, at: datetime, min_margin: float) -> Band | None:
        """The usual range at ``at``, or None when the bucket has too little history to decide."""
        weekday, hour = at.weekday(), at.hour
        history = self.buckets.get((weekday, hour), [])
        key = (weekday, hour, min_margin)
        known = self._bands.get(key)
        if known is not None and known[0] is history and known[1] == len(history):
            return known[2]
        band = self._band(history, min_margin)
        self._bands[key] = (history, len(history), band)
        return band

    @staticmethod
    def _band(history: list[float], min_margin: float) -> Band | None:
        if len(history) < MIN_HISTORY:
            return None
        expected = statistics.median(history)
        spread = 1.4826 * statistics.median(abs(v - expected) for v in history)
        return Band(expected, expected + max(K * spread, min_margin, RELATIVE_MARGIN * expected), len(history))


@dataclass(slots=True)
class LearnedLevel:
    """What one container held during its learning period: its own history, when it has no other."""

    started: float  # event time of its first sample
    level: float  # the highest value seen while learning

    def learning(self, at: float) -> bool:
        return at - self.started < LEARN_S


def growth_ceiling(level: float, floor: float, min_margin: float) -> float:
    """The ceiling for a container judged against its own learned level: that level plus a margin
    (the larger of ``min_margin`` and RELATIVE_MARGIN of the level), never below ``floor``."""
    return max(floor, level + max(min_margin, RELATIVE_MARGIN * level))


def load_baselines(*directories: Path) -> dict[str, dict[str, Baseline]]:
    """{workload key: {"cpu": Baseline, "memory": Baseline}} from the stored history files."""
    out: dict[str, dict[str, Baseline]] = {}
    for directory in directories or (BASELINE_DIR,):
        for path in sorted(directory.glob("*.json")):
            doc = json.loads(path.read_text())
            identity = (doc.get("workload") or {}).get("identity")
            if not isinstance(identity, str) or not identity:
                # History sanctions a workload's peaks: it binds to what the pipeline signed, never
                # to an image name or a label any container can carry.
                raise ValueError(f"{path}: workload.identity must name the signed identity (platform/...)")
            cpu, memory = Baseline(), Baseline()
            for stamp, cores, mem in doc["samples"]:
                at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
                cpu.add(at, float(cores))
                memory.add(at, float(mem))
            out[f"image={identity}"] = {"cpu": cpu, "memory": memory}
    return out


_ABSENT = object()  # a field the sample does not carry (None would be a value, which float() refuses)


@dataclass(slots=True)
class _Window:
    """A container's last WINDOW samples, as the samples above the ceiling among them: a sample
    below it is only counted, so the common sample allocates nothing and keeps nothing."""

    samples: int = 0  # samples seen; the n-th is sample n
    start: int = 1  # the first sample still in the window (the one after the last clear)
    above: deque[tuple[int, str, float]] = field(default_factory=lambda: deque(maxlen=WINDOW))  # (n, id, time)

    def clear(self) -> None:
        self.start = self.samples + 1
        self.above.clear()


class _SeasonalSpike(AnalyticBase):
    """Shared logic; subclasses pick the metric."""

    datasets: ClassVar[frozenset[str]] = frozenset({"linux.resources"})  # observe tests it first
    reads: ClassVar[tuple[str, ...] | None] = ("policy.resources.",)  # the sanctioned budget and its name
    metric: ClassVar[str]  # "cpu" | "memory"
    field: ClassVar[str]
    budget_field: ClassVar[str]  # the sanctioned budget the resources policy puts on the sample
    min_margin: ClassVar[float]
    unknown_ceiling: ClassVar[float]
    unit: ClassVar[str]
    scale: ClassVar[float]  # the metric's unit: values, ceilings and budgets are divided by it
    # Without history, learn the container's own level first (memory) instead of judging its first
    # second against the fixed ceiling (CPU): see the module docstring.
    learns_level: ClassVar[bool] = False

    def __init__(self, policy: Policy | None = None, baselines: dict[str, dict[str, Baseline]] | None = None,
                 clock: DetectorClock = CLOCK) -> None:
        section = policy.section("resources") if policy is not None else None
        history = tuple(section.history) if section is not None else ()
        self.baselines = load_baselines(*history) if baselines is None else baselines
        self.platform = Platform(policy)
        self.clock = clock
        self._recent: dict[str, _Window] = {}
        # The calendar hour last computed: (first second, last safe second, a datetime in it). Only the
        # weekday and hour of that datetime are ever read.
        self._hour: tuple[float, float, datetime | None] = (0.0, -1.0, None)
        self._levels: dict[str, LearnedLevel] = {}  # container id -> its learned level (learns_level only)

    def _calendar(self, created: float) -> datetime:
        """A datetime in the same UTC (weekday, hour) as ``datetime.fromtimestamp(translated created)``."""
        moment = self.clock.translate(created)
        first, last, at = self._hour
        if first <= moment < last and at is not None:
            return at
        at = datetime.fromtimestamp(moment, tz=UTC)
        first = at.replace(minute=0, second=0, microsecond=0).timestamp()
        # fromtimestamp rounds to the microsecond: a moment closer than that to the next hour may
        # round into it, so those go the long way.
        self._hour = (first, first + 3600 - 1e-6, at)
        return at

    def _workload(self, event: Event) -> str | None:
        return workload_key(event, self.platform)

    def _judge(self, event: Event) -> tuple[float, Baseline | None, Band | None, datetime]:
        at = self._calendar(event["event.created"])
        workload = workload_key(event, self.platform)  # what _workload says, one call shorter
        if workload is None:  # no signed identity, so no history (most samples): the fixed ceiling
            return self.unknown_ceiling, None, None, at
        baseline = self.baselines.get(workload, {}).get(self.metric)
        band = baseline.band(at, self.min_margin) if baseline is not None else None
        return (self.unknown_ceiling if band is None else band.ceiling), baseline, band, at

    def _why(self, baseline: Baseline | None, band: Band | None, at: datetime) -> str:
        if band is None:
            return "no baseline for this workload" if baseline is None else \
                f"too little history for {at:%a} {at:%H}:00 UTC"
        return f"usual for {at:%a} {at:%H}:00 UTC is {band.expected:.3g}{self.unit} " \
               f"({band.observations} weeks of history)"

    def ceiling(self, event: Event) -> tuple[float, str]:
        """(ceiling, why) for this event's workload at the detectors' current calendar time."""
        ceiling, baseline, band, at = self._judge(event)
        return ceiling, self._why(baseline, band, at)

    def observe(self, event: Event) -> list[Alert]:
        # Every resource sample (a third of a busy host's telemetry) comes here twice, once per
        # metric: the steps of the plain reading of the model, in its order, with fewer lookups.
        if event.get("event.dataset") != "linux.resources":
            return []
        raw: Any = event.get(self.field, _ABSENT)
        if raw is _ABSENT:
            return []
        scale = self.scale  # dividing by 1.0 is exact: the CPU figures are the same as undivided
        value = float(raw) / scale
        ceiling, baseline, band, at = self._judge(event)
        ceiling /= scale
        key = event.get("container.id") or ""
        learned: LearnedLevel | None = None
        budget = event.get(self.budget_field)
        sanctioned = float(budget) if isinstance(budget, (int, float)) and not isinstance(budget, bool) \
            and budget > 0 else None
        if sanctioned is not None:
            # A sanctioned heavy workload (the resources policy): its budget is its ceiling.
            ceiling = sanctioned / scale
            baseline, band = None, None
        elif band is None and self.learns_level:
            created = event["event.created"]
            learned = self._levels.get(key)
            if learned is None or learned.learning(created):
                learned = self._learn(key, created, value)
                if learned is None:
                    return []  # still learning: a level without history is not a spike
            ceiling = growth_ceiling(learned.level, self.unknown_ceiling / scale, self.min_margin / scale)
        recent = self._recent
        window = recent.get(key)
        if window is None:
            window = recent[key] = _Window()
        exceeds = value > ceiling
        evidence = event["event.id"]
        window.samples += 1
        # Fewer than SUSTAIN samples above were in the window before this one (at SUSTAIN it alerts
        # and starts afresh): only a sample above can make it SUSTAIN.
        if not exceeds:
            return []
        window.above.append((window.samples, evidence, event["event.created"]))
        first = max(window.samples - WINDOW + 1, window.start)  # the window: the last WINDOW samples since a clear
        above = [item for item in window.above if item[0] >= first]
        if len(above) < SUSTAIN:
            return []
        why = self._why(baseline, band, at)
        if sanctioned is not None:
            why = f"above the budget of its sanction {event.get('policy.resources.sanction')!r}"
        if learned is not None:
            why += f"; it held {learned.level:.3g}{self.unit} in its first {LEARN_S:g} s"
        window.clear()  # decided: start counting afresh (the engine keeps one alert per container)
        return [Alert(
            rule_id=self.rule_id, title=self.title, severity=self.severity, techniques=self.techniques,
            object=object_ref(event) or "unknown", evidence=tuple(e for _, e, _ in above),
            first_seen=above[0][2], response=self.response, source="analytic",
            context={"container.name": event.get("container.name"), "container.image.name":
                     event.get("container.image.name"),
                     "workload": self._workload(event) or f"unsigned, claims {claimed_workload(event)}",
                     "observed": f"{value:.3g}{self.unit}", "ceiling": f"{ceiling:.3g}{self.unit}", "why": why},
        )]

    def _learn(self, key: str, created: float, value: float) -> LearnedLevel | None:
        """Feed the container's learning period; its learned level once the period is over, else None."""
        learned = self._levels.get(key)
        if learned is None:
            if len(self._levels) >= _MAX_LEARNED:
                del self._levels[next(iter(self._levels))]
            learned = self._levels[key] = LearnedLevel(started=created, level=value)
        if learned.learning(created):
            learned.level = max(learned.level, value)
            return None
        return learned

    def tick(self, now: float) -> list[Alert]:
        return []

    def forget(self, container_ids: Iterable[str]) -> None:
        for cid in container_ids:
            self._recent.pop(cid, None)
            self._levels.pop(cid, None)


CPU_SPIKE = About(
    severity="high",
    data_sources=("cgroup-resources",),
    rule_id="stowaway.analytic.cpu-spike",
    title="Container CPU use far above its workload's seasonal baseline",
    techniques=("T1496", "T1496.001"),
    description=(
        "Sustained CPU use above the (weekday, hour) baseline of the workload, or above "
        "0.4 cores for a workload without one: miner-like compute hijacking."),
    response=(
        "List the container's processes (docker top) and their network peers; a miner "
        "talks to a pool. Stop it if its owner does not recognise the load."),
    blindspots=(
        "A miner throttled below the ceiling (0.3 cores on an unknown workload, or within a known workload's "
        "band at its peak hour) is not flagged.",
        "Whoever can start containers can run the genuine signed image as built (platform/reports) and steer "
        "it through its inputs (environment, mounted files) within that workload's peak-hour band; a rebuilt, "
        "retagged or relabelled copy, or the image with another command, has no history to borrow.",
        "The shipped history (detectors/baselines/resources/reports.json) is synthetic, not an export.",
    ),
    falsepositives=(
        "A new workload without history that is CPU-bound from its start (a batch job, a build): give it a "
        "history file.",
    ),
)


class CpuSpike(_SeasonalSpike, about=CPU_SPIKE):
    metric: ClassVar[str] = "cpu"
    field: ClassVar[str] = "container.cpu.cores"
    budget_field: ClassVar[str] = "policy.resources.cpu_cores_budget"
    min_margin: ClassVar[float] = 0.2
    unknown_ceiling: ClassVar[float] = 0.4
    unit: ClassVar[str] = " cores"
    scale: ClassVar[float] = 1.0


MEMORY_SPIKE = About(
    severity="high",
    data_sources=("cgroup-resources",),
    rule_id="stowaway.analytic.memory-spike",
    title="Container memory use far above its workload's seasonal baseline",
    techniques=("T1496",),
    description=(
        "Sustained memory use above the (weekday, hour) baseline of the workload, or, for "
        "a workload without one, growth beyond what the container held in its first "
        "10 s (and beyond 256 MiB): a memory balloon."),
    response=(
        "Look at what holds the memory (docker top, /proc/<pid>/status VmRSS); a balloon "
        "starves neighbours on the node. Limit or stop it."),
    blindspots=(
        "The learning period lets through an adversary that starts at its full level: a container of an unknown "
        "workload that allocates 400 MiB within its first 10 s and never grows beyond 1.25 times that is learned "
        "as its own level and never raises memory-spike (nor does one restarted at that level).",
        "Growth that stays under 256 MiB, or under a quarter of the learned level, is not flagged.",
        "A container first seen by a monitor that started after it learns its level from then on.",
        "Whoever can start containers can run the genuine signed image as built (platform/reports) and steer "
        "it through its inputs (environment, mounted files) within that workload's peak-hour band; a rebuilt, "
        "retagged or relabelled copy, or the image with another command, has no history to borrow.",
    ),
    falsepositives=(
        "A service without history that loads its data set after its first 10 s (a lazily warmed cache), or "
        "leaks memory: give it a history file.",
    ),
)


class MemorySpike(_SeasonalSpike, about=MEMORY_SPIKE):
    metric: ClassVar[str] = "memory"
    field: ClassVar[str] = "container.memory.usage_bytes"
    budget_field: ClassVar[str] = "policy.resources.memory_bytes_budget"
    min_margin: ClassVar[float] = 64 * MIB
    unknown_ceiling: ClassVar[float] = 256 * MIB
    unit: ClassVar[str] = " MiB"
    scale: ClassVar[float] = float(MIB)
    learns_level: ClassVar[bool] = True
