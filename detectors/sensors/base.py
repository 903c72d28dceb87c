"""The sensor interface: a telemetry source that emits Events from its own thread.

``Sensor`` is the protocol the monitor drives; ``ThreadedSensor`` is the usual way to meet it: it
owns the thread, the stop switch and the counters, so a sensor writes only what it observes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from detectors.event import Event
from lab.naming import is_bookkeeping_label

Emit = Callable[[Event], None]

# Labels that belong to the lab's bookkeeping (lab.naming). Sensors drop them before any detector
# sees an event: a defender's real telemetry would not carry them, and no rule may decide on them.
__all__ = ["Emit", "Sensor", "SensorStats", "ThreadedSensor", "is_bookkeeping_label"]


@dataclass(frozen=True, slots=True)
class SensorHealth:
    """How one sensor fared in a monitor: ``running``, ``unavailable`` (its kernel feature or source
    is missing here; it said why), ``failed`` (it raised when started or stopped), or ``stopped``
    (its thread died). The others keep running whatever one of them does."""

    name: str
    state: str
    reason: str = ""
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True, slots=True)
class SensorContext:
    """What a sensor from an installed package (``stowaway.sensors`` entry point) is built with."""

    engine_client: Any  # the Docker SDK client of the engine being watched
    instance_id: str  # unique per monitor: name tracefs instances lab.naming.tracefs_instance(instance_id, ...)
    engine_data_root: Path | None = None  # the engine's data root, when it is the lab's own engine


class Sensor(Protocol):
    name: ClassVar[str]  # data source name used in scorecards: "docker-events", "tracefs-exec", ...

    def start(self, emit: Emit) -> None:
        """Begin emitting. Must return quickly; the work happens on the sensor's own thread."""

    def stop(self) -> None:
        """Stop and release everything (threads, streams, tracefs instances). Idempotent."""

    @property
    def stats(self) -> dict[str, int]:
        """Counters: events emitted, dropped, errors."""
        ...


@runtime_checkable
class Observer(Protocol):
    """Follows the other sensors' telemetry (FIM watching a new container's log file): sees every event."""

    def observe(self, event: Event) -> None: ...


@dataclass(slots=True)
class SensorStats:
    """A sensor's counters. ``extra`` holds its own (``host_execs``, ``learned``, ...): the keys it
    starts with are the keys it reports, so a scorecard sees the same shape whether or not they moved."""

    emitted: int = 0
    dropped: int = 0  # seen, but not turned into an event (malformed, or gone before it was read)
    errors: int = 0
    overflows: int = 0  # the kernel's queue overflowed: changes happened that nobody saw
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self, overflows: bool = False) -> dict[str, int]:
        out = {"emitted": self.emitted, "dropped": self.dropped, "errors": self.errors}
        if overflows:
            out["overflows"] = self.overflows
        out.update(self.extra)
        return out


class ThreadedSensor:
    """A sensor whose work runs on one daemon thread of its own.

    Subclasses write three hooks: ``open`` (on the caller's thread, before the thread starts: set
    up what ``run`` reads, raise to fail the start, or set ``unavailable`` to say why this host
    cannot have the sensor), ``run`` (the thread's body: loop until ``self._stop`` is set) and
    ``close`` (release what ``open`` took; called after a failed open and on every ``stop``, so it
    must be idempotent). A ``run`` that raises ends the thread: the exception is counted and kept
    in ``failure``, and the monitor reports the sensor stopped with that reason.
    """

    name: ClassVar[str]
    reports_overflows: ClassVar[bool] = False  # whether ``stats`` carries "overflows"
    join_timeout_s: ClassVar[float] = 5.0

    def __init__(self, extra_stats: tuple[str, ...] = ()) -> None:
        self._stats = SensorStats(extra=dict.fromkeys(extra_stats, 0))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._emit: Emit | None = None
        self.unavailable = ""  # why the sensor could not start here, when it could not
        self.failure = ""  # why its thread ended, when it ended by an exception

    @property
    def stats(self) -> dict[str, int]:
        return self._stats.as_dict(self.reports_overflows)

    @property
    def alive(self) -> bool:
        """Is the thread running? False before start, after stop, and once ``run`` ended."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, emit: Emit) -> None:
        if self._thread is not None or self._stop.is_set():
            return  # started already, or stopped: a sensor runs once
        self._emit = emit
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        if self.unavailable:
            self.close()
            return
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.run()
        except Exception as exc:  # recorded, so health() can say why the sensor went quiet
            self._stats.errors += 1
            self.failure = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.join_timeout_s)
        self.close()

    def send(self, event: Event) -> None:
        """Hand one event to the monitor, and count it."""
        if self._emit is not None:
            self._emit(event)
            self._stats.emitted += 1

    def open(self) -> None:
        """Set up before the thread starts (see the class docstring)."""

    def run(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what ``open`` and ``run`` hold. Idempotent."""
