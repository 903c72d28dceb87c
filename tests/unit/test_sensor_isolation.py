"""One sensor failing costs neither detection nor the other sensors, and the monitor says which failed."""

from __future__ import annotations

import time
from typing import ClassVar

from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, Monitor, load_rules
from detectors.event import Event, new_event
from detectors.policies import Policy
from detectors.sensors.base import Emit


class Broken:
    name: ClassVar[str] = "broken"

    def start(self, emit: Emit) -> None:
        raise OSError("tracefs is not mounted")

    def stop(self) -> None:
        raise RuntimeError("nothing to stop")

    @property
    def stats(self) -> dict[str, int]:
        return {"emitted": 0}


class Missing(Broken):
    name: ClassVar[str] = "missing"
    unavailable = "no /sys/kernel/tracing here"

    def start(self, emit: Emit) -> None:
        pass  # it says why in ``unavailable`` and emits nothing

    def stop(self) -> None:
        pass


class Feeder:
    """Emits one privileged-container start when started; its observe() always raises."""

    name: ClassVar[str] = "feeder"

    def __init__(self) -> None:
        self.stopped = False

    def start(self, emit: Emit) -> None:
        event = new_event("docker", "docker.events", "start")
        event.update({"container.id": "c" * 64, "container.name": "web-1", "container.privileged": True,
                      "container.image.name": "stowaway/base:x"})
        emit(event)

    def observe(self, event: Event) -> None:
        raise ValueError("a follow-up that always fails")

    def stop(self) -> None:
        self.stopped = True

    @property
    def stats(self) -> dict[str, int]:
        return {"emitted": 1}


def test_a_failing_sensor_leaves_the_others_running_and_is_reported() -> None:
    engine = DetectionEngine(load_rules([DEFAULT_RULE_DIR]), Policy())
    feeder = Feeder()
    monitor = Monitor(engine, [Broken(), Missing(), feeder])
    monitor.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not engine.counters.events:
        time.sleep(0.05)
    health = {h.name: h for h in monitor.health()}
    assert health["broken"].state == "failed" and "tracefs is not mounted" in health["broken"].reason
    assert health["missing"].state == "unavailable" and "tracing" in health["missing"].reason
    assert health["feeder"].healthy and health["feeder"].stats == {"emitted": 1}
    monitor.stop()
    assert feeder.stopped  # the broken sensor's stop raised; the feeder was stopped anyway
    assert engine.counters.events == 1 and monitor.observer_errors >= 1  # the observer's failure cost no event
    assert any(a.rule_id == "stowaway.docker.privileged-container" for a in monitor.alerts)
