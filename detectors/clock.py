"""The detectors' clock: wall time, unless the harness says what time it is.

Seasonal analytics judge "is this usual at this hour of this weekday?". To test that honestly the
harness can set the clock to a chosen moment for one scenario (``simulated``): time then runs on
from that moment at the normal rate. Only analytics that reason about the calendar read this clock;
event and alert timestamps stay real, so latency figures are never distorted. Scenarios that set it
are run alone (``parallel_safe = False``) so the clock never lies to another scenario.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime


class DetectorClock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Epoch seconds as the detectors should see them."""
        return time.time() + self._offset

    def translate(self, real: float) -> float:
        """A real (sensor) timestamp on the detectors' calendar."""
        return real + self._offset

    def set(self, moment: str | float | None) -> None:
        """Pin the clock to ``moment`` (ISO 8601, or epoch seconds) from now on; None restores it."""
        with self._lock:
            self._offset = 0.0 if moment is None else parse_moment(moment) - time.time()

    @contextlib.contextmanager
    def simulated(self, moment: str | float | None) -> Iterator[None]:
        self.set(moment)
        try:
            yield
        finally:
            self.set(None)


def parse_moment(moment: str | float) -> float:
    if isinstance(moment, int | float):
        return float(moment)
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # a calendar without a zone is UTC, never local
    return parsed.timestamp()


CLOCK = DetectorClock()
