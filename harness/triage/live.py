"""Triage of a live watch's alert, from the events the watch saw: ``explain-alert``'s five sections
without a recording.

``stowaway watch`` keeps the most recent raw sensor events (``MAX_EVENTS``, the oldest dropped first:
a workload deployed long before the alert may have its create event gone, and its workload section
then says "not in the telemetry" for what only that event carried) and, for each alert it raised,
can compute the triage the way ``explain-alert`` does for a recorded run: the platform's facts are
read live from what the lab publishes (its signing key, signatures, network inventory) when the watch
runs on the lab's engine, and the policy is the shipped one. ``watch --triage`` puts it on every
alert line; ``stowaway explain-alert --live ID`` asks the watch for one.

An alert's triage is computed when it is asked for: the events "around" the alert are those seen so
far (a line written as the alert is raised has none after it).
"""

from __future__ import annotations

import threading
import types
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detectors.alert import Alert
from detectors.event import Event
from harness.triage.alerts import load_detector
from harness.triage.model import DEFAULT_EVENTS, RunAlert, Triage
from harness.triage.policy import load_policy_context
from harness.triage.sections import about, triage

MAX_EVENTS = 20_000  # raw events kept; about 40 MB at the ~2 kB an inspected engine event takes
FROM_WATCH = "the alerts this watch raised"


class LiveEvents:
    """A Monitor tap keeping the most recent events, and the triage of an alert over them."""

    def __init__(self, paths: Any, run_id: str, max_events: int = MAX_EVENTS) -> None:
        self.paths, self.run_id = paths, run_id
        self._events: deque[Event] = deque(maxlen=max_events)
        self._lock = threading.Lock()
        self.seen = 0
        self._detectors: dict[str, Any] = {}  # rule id -> its DetectorDoc (reading it loads every scenario)

    def tap(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
            self.seen += 1

    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def _platform(self, events: Sequence[Event], ref: str) -> dict[str, Any] | None:
        """The lab's published facts about this object's images and networks, None off the lab."""
        from harness.recording import platform_facts

        mine = about(events, ref)
        images = {str(e["container.image.id"]) for e in mine if e.get("container.image.id")}
        networks = {str(n) for e in mine for n in (e.get("container.network.ids") or []) if n}
        try:
            return platform_facts(self.paths, images, networks)
        except (OSError, StopIteration, ValueError):  # not the lab's engine: nothing published
            return None

    def explain(self, chosen: Alert, alerts: Sequence[Alert], limit: int = DEFAULT_EVENTS,
                policy_dirs: Sequence[Path] = ()) -> Triage:
        events = self.events()
        run = types.SimpleNamespace(events=events, platform=self._platform(events, chosen.object),
                                    run_id=self.run_id, directory=None)
        detector = self._detectors.get(chosen.rule_id)
        if detector is None:
            detector = self._detectors[chosen.rule_id] = load_detector(chosen.rule_id)
        policy, platform = load_policy_context(run, chosen, detector, policy_dirs)
        listed = [RunAlert(a, ()) for a in alerts]
        mine = next((r for r in listed if r.alert is chosen), RunAlert(chosen, ()))
        return triage(mine, listed, events, detector, policy, platform, self.run_id, FROM_WATCH, limit=limit)
