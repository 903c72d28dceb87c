"""ThreadedSensor: one thread, started once, stopped always; a thread that dies says why."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, Monitor, load_rules
from detectors.event import Event, new_event
from detectors.policies import Policy
from detectors.sensors.base import SensorStats, ThreadedSensor


class Ticker(ThreadedSensor):
    """Emits one event per tick until stopped."""

    name: ClassVar[str] = "ticker"

    def __init__(self) -> None:
        super().__init__(extra_stats=("ticks",))
        self.opened = self.closed = 0

    def open(self) -> None:
        self.opened += 1

    def run(self) -> None:
        while not self._stop.wait(0.01):
            self._stats.extra["ticks"] += 1
            self.send(new_event("test", "test.tick", "tick"))

    def close(self) -> None:
        self.closed += 1


class Crashing(ThreadedSensor):
    name: ClassVar[str] = "crashing"

    def run(self) -> None:
        raise ValueError("the source went away")


class Missing(ThreadedSensor):
    name: ClassVar[str] = "missing"

    def open(self) -> None:
        self.unavailable = "no such kernel feature here"

    def run(self) -> None:  # never reached
        raise AssertionError


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_start_and_stop_are_idempotent() -> None:
    sensor = Ticker()
    out: list[Event] = []
    assert not sensor.alive
    sensor.start(out.append)
    sensor.start(out.append)  # a second start starts no second thread
    assert sensor.opened == 1 and sensor.alive
    assert [t.name for t in threading.enumerate()].count("ticker") == 1
    assert wait_for(lambda: len(out) >= 3)
    sensor.stop()
    sensor.stop()
    assert not sensor.alive and sensor.closed == 2  # close runs on every stop: it must be idempotent
    sensor.start(out.append)  # stopped is final
    assert not sensor.alive and sensor.opened == 1


def test_stats_keep_the_shape_sensors_report() -> None:
    sensor = Ticker()
    out: list[Event] = []
    sensor.start(out.append)
    assert wait_for(lambda: len(out) >= 2)
    sensor.stop()
    stats = sensor.stats
    assert list(stats) == ["emitted", "dropped", "errors", "ticks"]  # no "overflows": it does not count them
    assert stats["emitted"] == len(out) and stats["ticks"] >= stats["emitted"]
    assert SensorStats(overflows=2, extra={"x": 1}).as_dict(overflows=True) == \
        {"emitted": 0, "dropped": 0, "errors": 0, "overflows": 2, "x": 1}


def test_a_run_that_raises_is_counted_and_reported_with_its_reason() -> None:
    sensor = Crashing()
    engine = DetectionEngine(load_rules([DEFAULT_RULE_DIR]), Policy())
    monitor = Monitor(engine, [sensor, Missing()])
    monitor.start()
    try:
        assert wait_for(lambda: not sensor.alive and sensor.failure)
        health = {h.name: h for h in monitor.health()}
    finally:
        monitor.stop()
    assert health["crashing"].state == "stopped"
    assert health["crashing"].reason == "ValueError: the source went away"
    assert health["crashing"].stats["errors"] == 1
    assert health["missing"].state == "unavailable" and health["missing"].reason == "no such kernel feature here"


def test_an_open_that_raises_fails_the_start_and_releases() -> None:
    class Refusing(Ticker):
        def open(self) -> None:
            raise OSError("no permission")

    sensor = Refusing()
    try:
        sensor.start(lambda event: None)
    except OSError:
        pass
    else:
        raise AssertionError("start should raise")
    assert sensor.closed == 1 and not sensor.alive
