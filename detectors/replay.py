"""Replay recorded telemetry (JSON lines, one Event each) through a DetectionEngine.

The engine is ticked on event time, once per second of it, as the live monitor ticks on wall time.
A line that is not a JSON object never reaches the engine: it is counted here as ``unparsed``, so
that every line of the input is accounted for (``lines == unparsed + engine events``) and the
engine's own ``dropped`` counts the events that parsed but broke enrichment or a rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from detectors.alert import Alert
from detectors.engine import DetectionEngine


@dataclass(slots=True)
class ReplayCounters:
    lines: int = 0
    unparsed: int = 0  # not JSON, or JSON but not an object
    alerts: int = 0


def replay(lines: Iterable[bytes], engine: DetectionEngine,
           keep_alerts: bool = False) -> tuple[ReplayCounters, list[Alert]]:
    counters = ReplayCounters()
    kept: list[Alert] = []
    loads, process = orjson.loads, engine.process
    last_tick = float("-inf")
    for line in lines:
        counters.lines += 1
        try:
            event = loads(line)
        except orjson.JSONDecodeError:
            counters.unparsed += 1
            continue
        if type(event) is not dict:
            counters.unparsed += 1
            continue
        alerts = process(event)
        # The live monitor ticks once a second (dedup pruning, analytics' timers); a replay ticks on
        # event time, so state is kept exactly as long as it would have been live.
        created = event.get("event.created")
        if type(created) is float and created - last_tick >= 1.0:
            last_tick = created
            alerts = alerts + engine.tick(created)
        if alerts:
            counters.alerts += len(alerts)
            if keep_alerts:
                kept.extend(alerts)
    return counters, kept
