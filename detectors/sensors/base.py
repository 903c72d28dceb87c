"""The sensor interface: a telemetry source that emits Events from its own thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol, runtime_checkable

from detectors.event import Event

Emit = Callable[[Event], None]

# Labels that belong to the lab's bookkeeping. Sensors drop them before any detector sees an
# event: a defender's real telemetry would not carry them, and no rule may decide on them.
BOOKKEEPING_LABEL_PREFIXES = ("io.stowaway.",)


def is_bookkeeping_label(key: str) -> bool:
    return key.startswith(BOOKKEEPING_LABEL_PREFIXES)


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
