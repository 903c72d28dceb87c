"""The sensor interface: a telemetry source that emits Events from its own thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from detectors.event import Event
from lab.naming import is_bookkeeping_label

Emit = Callable[[Event], None]

# Labels that belong to the lab's bookkeeping (lab.naming). Sensors drop them before any detector
# sees an event: a defender's real telemetry would not carry them, and no rule may decide on them.
__all__ = ["Emit", "Sensor", "is_bookkeeping_label"]


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
