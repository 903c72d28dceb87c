"""Collect another detector's alerts while a run goes on, and place each on a container.

Tools that name the container (Falco's ``container.id``, Tetragon's ``docker``, an ECS alert's
``container.id``) are placed by that name. Tools that name only a process (auditd) are placed the
way the embedded process sensor places its own events: ``/proc/<pid>/cgroup`` while the process is
still there (read as soon as the alert arrives), else the run's own process telemetry, which saw
the pid exec inside a container (its parent's pid next, for a forked child that never exec'd).
Whatever is still unplaced stays unplaced, and the scorecard counts it: never guessed.
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.event import Event
from detectors.sensors.attribution import attribute_pid
from harness.external.alert import ExternalAlert
from harness.external.mapping import FORMATS, DetectorMapping
from harness.external.sources import AlertSource, HttpReceiver, JsonLinesFile, SourceError, loopback_address

POLL_S = 0.5
PLACEMENT_WAIT_S = 15.0  # how long an alert with a pid waits for the process telemetry to place it
PID_HISTORY_CAP = 200_000  # pids remembered; the oldest are forgotten first


class PidHistory:
    """pid -> the containers it was seen exec in, with when: fed by the run's process events.
    Pids are reused, so a lookup takes the last sighting at or before the alert's time."""

    def __init__(self, cap: int = PID_HISTORY_CAP) -> None:
        self._seen: OrderedDict[int, list[tuple[float, str]]] = OrderedDict()
        self._cap = cap
        self._lock = threading.Lock()

    def tap(self, event: Event) -> None:
        pid, container = event.get("process.pid"), event.get("container.id")
        if not isinstance(pid, int) or not pid or not isinstance(container, str) or not container:
            return
        at = float(event.get("event.created") or 0.0)
        with self._lock:
            sightings = self._seen.pop(pid, [])
            bisect.insort(sightings, (at, container))
            self._seen[pid] = sightings[-8:]
            while len(self._seen) > self._cap:
                self._seen.popitem(last=False)

    def container_of(self, pid: int, at: float) -> str:
        with self._lock:
            sightings = self._seen.get(pid, [])
        # An audit record is stamped at syscall exit, after the exec the process sensor saw; a
        # second of slack covers an exec traced a little after the syscall that followed it.
        before = [container for seen_at, container in sightings if seen_at <= at + 1.0]
        return before[-1] if before else ""


def place_live(alert: ExternalAlert, proc: str = "/proc") -> ExternalAlert:
    """The alert with its container read from ``/proc/<pid>/cgroup``, when it named none and the
    process is still there. Only right at first sight: later the pid may name another process."""
    if alert.container_id or not alert.pid:
        return alert
    attribution = attribute_pid(alert.pid, proc)
    return alert if attribution is None else dataclasses.replace(alert, container_id=attribution.workload_id)


def place_from_history(alert: ExternalAlert, history: PidHistory) -> ExternalAlert:
    """The alert with its container from the run's process telemetry (its pid, then its parent's)."""
    if alert.container_id:
        return alert
    for pid in (alert.pid, alert.ppid):
        container = history.container_of(pid, alert.time) if pid else ""
        if container:
            return dataclasses.replace(alert, container_id=container)
    return alert


def place(alert: ExternalAlert, history: PidHistory, proc: str = "/proc") -> ExternalAlert:
    return place_from_history(place_live(alert, proc), history)


@dataclass(slots=True)
class Collected:
    """One source's alerts over a run, placed, and what it said about itself."""

    source: AlertSource
    mapping: DetectorMapping
    alerts: list[ExternalAlert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Alerts with a pid the process telemetry has not placed yet, and until when to keep asking:
    # the exec event of a short-lived process can reach the monitor after the tool's alert does.
    pending: list[tuple[ExternalAlert, float]] = field(default_factory=list)


class Collector:
    """Poll every source on one thread until ``finish``; place each alert as it arrives (a pid is
    worth most while its process lives)."""

    def __init__(self, sources: Sequence[tuple[AlertSource, DetectorMapping]], history: PidHistory) -> None:
        self.collected = [Collected(source, mapping) for source, mapping in sources]
        self.history = history
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started: list[Collected] = []  # only these are finished: a source never started has nothing to stop

    def start(self) -> None:
        for item in self.collected:
            item.source.start()  # a failure leaves the started ones to finish(), which the caller always calls
            self._started.append(item)
        self._thread = threading.Thread(target=self._loop, name="external-alerts", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(POLL_S):
            self._poll_all()

    def _poll_all(self) -> None:
        for item in self._started:
            self._take(item, item.source.poll())

    def _take(self, item: Collected, alerts: list[ExternalAlert], final: bool = False) -> None:
        now = time.monotonic()
        waiting = [(a, until) for a, until in item.pending]
        waiting += [(place_live(a), now + PLACEMENT_WAIT_S) for a in alerts]
        item.pending = []
        for alert, until in waiting:
            placed = place_from_history(alert, self.history)
            if placed.container_id or not placed.pid or final or now >= until:
                item.alerts.append(placed)
            else:
                item.pending.append((placed, until))

    def finish(self, drain_s: float = 3.0) -> list[str]:
        """Give the tools ``drain_s`` to deliver what they are still writing, take the rest, and
        stop every source (each, even when another fails). Returns what failed."""
        failures: list[str] = []
        if self._thread is not None:
            self._stop.wait(drain_s)
            self._stop.set()
            self._thread.join(timeout=10)
        started, self._started = self._started, []
        for item in started:
            try:
                self._take(item, item.source.finish(), final=True)
                notes = getattr(item.source, "notes", None)  # a source that says something of its setup
                item.notes.extend(notes() if callable(notes) else [])
            except Exception as exc:
                failures.append(f"{item.mapping.detector}: stopping {item.source.where} failed: "
                                f"{type(exc).__name__}: {exc}")
        return failures


# --- source specs ----------------------------------------------------------------------------------

SpecParser = Callable[[dict[str, Any], str], ExternalAlert | None]


def parse_spec(spec: str, mappings: dict[str, DetectorMapping],
               runtime_dir: Path) -> tuple[AlertSource, DetectorMapping]:
    """``NAME=file:PATH``, ``NAME=http:[HOST:]PORT`` or ``auditd[=auditd:RULEFILE,...]``.

    NAME is the detector: its mapping file (shipped, or ``--detector-map``) gives the format; a NAME
    without one must be a format name itself (falco, tetragon, ecs, generic) and is graded with no
    expectations. Raises SourceError naming the spec."""
    name, _, target = spec.partition("=")
    name = name.strip()
    if not target:
        if name == "auditd":
            target = "auditd:"
        else:
            raise SourceError(f"--alerts-from {spec!r}: write NAME=file:PATH, NAME=http:PORT or auditd")
    mapping = mappings.get(name)
    if mapping is None:
        if name not in FORMATS:
            raise SourceError(f"--alerts-from {spec!r}: no mapping file names detector {name!r} "
                              f"(give one with --detector-map), and it is not a format ({', '.join(FORMATS)})")
        mapping = DetectorMapping.empty(name, name)
    kind, _, where = target.partition(":")
    if kind == "auditd":
        if mapping.format != "auditd":
            raise SourceError(f"--alerts-from {spec!r}: {name}'s mapping reads format {mapping.format}, not auditd")
        from harness.external.auditd import AuditdDetector

        return AuditdDetector(runtime_dir, [f for f in where.split(",") if f], detector=name), mapping
    if mapping.format == "auditd":
        raise SourceError(f"--alerts-from {spec!r}: auditd alerts come from the lab's own auditd "
                          f"(write {name}=auditd:)")
    from harness.external.formats import FORMATS as PARSERS

    parse = PARSERS[mapping.format]
    if kind == "file":
        if not where:
            raise SourceError(f"--alerts-from {spec!r}: file: needs a path")
        return JsonLinesFile(Path(where), parse, name), mapping
    if kind == "http":
        host, _, port = where.rpartition(":")
        try:
            number = int(port)
        except ValueError:
            raise SourceError(f"--alerts-from {spec!r}: http: needs a port number") from None
        if not 0 <= number < 65536:  # 0: any free port (the progress line and scorecard name it)
            raise SourceError(f"--alerts-from {spec!r}: port {number} is out of range")
        try:
            return HttpReceiver(parse, name, loopback_address(host or "127.0.0.1"), number), mapping
        except SourceError as exc:
            raise SourceError(f"--alerts-from {spec!r}: {exc}") from None
    raise SourceError(f"--alerts-from {spec!r}: unknown source kind {kind!r} (file:, http: or auditd:)")
