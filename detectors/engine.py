"""The detection engine: enrich each event with policy, run Sigma rules and analytics, raise Alerts.

Sensors emit from their own threads into one queue; a single worker drains it, so rules and
analytics see events in arrival order and need no locks of their own. An alert is raised once per
(rule, object) within a dedup window; later matches on the same object inside the window add to its
count, not to the alert stream. A container's incident lasts as long as the container, so its
window is long. A shared, long-lived object (the engine's config file, a node, a service) is
different: each change to it is its own incident, so only an immediate repeat of the same match
(one change seen twice) is folded.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.alert import Alert
from detectors.analytics.base import Analytic
from detectors.event import Event, object_ref
from detectors.policies import Policy, load_policy
from detectors.sensors.base import Sensor
from detectors.sigma import RuleSet

DEFAULT_RULE_DIR = Path(__file__).parent / "rules"
CONTEXT_FIELDS = (
    "container.name", "container.image.name", "container.logging.driver", "container.network.names",
    "process.command_line", "process.executable", "file.path", "destination.ip", "destination.port",
    "orchestrator.resource.name",
)
AlertSink = Callable[[Alert], None]


def load_rules(dirs: Iterable[Path] = (DEFAULT_RULE_DIR,), placeholders: dict[str, list[str]] | None = None) -> RuleSet:
    return RuleSet.load(list(dirs), placeholders=placeholders or {})


@dataclass(slots=True)
class Counters:
    events: int = 0
    alerts: int = 0
    dropped: int = 0  # events that broke enrichment or a rule: counted, never fatal
    tick_errors: int = 0  # ticks that raised (an analytic's timer): counted, never fatal
    by_source: dict[str, int] = field(default_factory=dict)


class DetectionEngine:
    def __init__(self, rules: RuleSet, policy: Policy | None = None, analytics: Iterable[Analytic] = (),
                 dedup_window_s: float = 120.0, shared_object_window_s: float = 2.0) -> None:
        self.rules = rules
        self.dedup_window_s = dedup_window_s
        self.shared_object_window_s = shared_object_window_s
        self.policy = policy or load_policy()
        self.analytics = list(analytics)
        self.counters = Counters()
        self._raised: dict[tuple[str, str], list[float]] = {}  # key -> [first_seen of the alert, repeats]
        self._sinks: list[AlertSink] = []

    def subscribe(self, sink: AlertSink) -> None:
        self._sinks.append(sink)

    def process(self, event: Event) -> list[Alert]:
        """Evaluate one event synchronously. Returns the alerts it raised (also sent to sinks)."""
        self.counters.events += 1
        try:
            self.policy.enrich(event)
            alerts = [self._from_rule(rule, event) for rule in self.rules.match(event)]
            for analytic in self.analytics:
                alerts.extend(analytic.observe(event))
            source = event.get("observer.name", "")
            if source:
                alerts = [a if a.data_source else dataclasses.replace(a, data_source=source) for a in alerts]
            # Inside the guard too: dedup does arithmetic on the event's own timestamp, which a
            # malformed event may hold as any type (found by the malformed-telemetry drill).
            return self._emit(alerts)
        except Exception:  # one malformed event must not stop detection: count it and go on
            self.counters.dropped += 1
            return []

    def reject(self) -> None:
        """Count an event that arrived but could not even be handed to ``process`` (see Monitor)."""
        self.counters.events += 1
        self.counters.dropped += 1

    def tick(self, now: float | None = None) -> list[Alert]:
        """Time-driven analytics. Their alerts name the analytic's declared sensor as data source."""
        now = time.time() if now is None else now
        # Forget expired dedup keys, so memory follows the number of live objects, not history.
        expired = [key for key, (first, _) in self._raised.items() if now - first >= self.dedup_window_s]
        for key in expired:
            del self._raised[key]
        alerts: list[Alert] = []
        for analytic in self.analytics:
            declared = ",".join(getattr(analytic, "data_sources", ()) or ())
            alerts.extend(a if a.data_source else dataclasses.replace(a, data_source=declared)
                          for a in analytic.tick(now))
        return self._emit(alerts)

    def _from_rule(self, rule: Any, event: Event) -> Alert:
        return Alert(
            rule_id=rule.rule_id, title=rule.title, severity=rule.level, techniques=tuple(rule.techniques),
            object=object_ref(event) or "unknown", evidence=(event["event.id"],),
            first_seen=event["event.created"], response=rule.response or "", source="sigma",
            context={k: event[k] for k in CONTEXT_FIELDS if k in event},
        )

    def _emit(self, alerts: list[Alert]) -> list[Alert]:
        if any(type(alert.first_seen) not in (int, float) for alert in alerts):
            # A malformed event's timestamp: refuse before any side effect (``process`` counts it dropped),
            # or it would sit in the dedup table and break every later tick.
            raise TypeError("alert with a non-numeric first_seen")
        fresh = []
        for alert in alerts:
            key = (alert.rule_id, alert.object)
            seen = self._raised.get(key)
            window = self.dedup_window_s if alert.object.startswith("container:") else self.shared_object_window_s
            # Event time, not wall time: a replay of recorded telemetry dedups exactly as live did.
            if seen is not None and alert.first_seen - seen[0] < window:
                seen[1] += 1
                continue
            self._raised[key] = [alert.first_seen, 0]
            fresh.append(alert)
            self.counters.alerts += 1
            for sink in self._sinks:
                sink(alert)
        return fresh


class Monitor:
    """Sensors feeding one engine on a worker thread: the thing `stowaway watch` and the harness run."""

    def __init__(self, engine: DetectionEngine, sensors: Iterable[Sensor]) -> None:
        self.engine = engine
        self.sensors = list(sensors)
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        # Sensors that follow other telemetry (FIM watching a new container's log file) see every event.
        self._observers = [s for s in self.sensors if hasattr(s, "observe")]
        self.alerts: list[Alert] = []
        self.seen: dict[str, set[str]] = {}  # object ref -> sensors that reported it
        engine.subscribe(self._keep)

    def _keep(self, alert: Alert) -> None:
        with self._lock:
            self.alerts.append(alert)

    def _emit_from(self, sensor_name: str) -> Callable[[Event], None]:
        def emit(event: Event) -> None:
            event.setdefault("observer.name", sensor_name)
            self._queue.put(event)

        return emit

    def start(self) -> None:
        self._worker = threading.Thread(target=self._drain, name="detection-engine", daemon=True)
        self._worker.start()
        for sensor in self.sensors:
            sensor.start(self._emit_from(sensor.name))

    def _drain(self) -> None:
        last_tick = time.monotonic()
        while True:
            try:
                event = self._queue.get(timeout=0.2)
            except queue.Empty:
                event = ...  # type: ignore[assignment]
            if event is None:
                return
            if event is not ...:
                try:
                    ref = object_ref(event)
                    if ref:
                        with self._lock:
                            self.seen.setdefault(ref, set()).add(event.get("observer.name", "?"))
                    for observer in self._observers:
                        observer.observe(event)
                except Exception:  # a malformed event must not kill the worker, and with it detection
                    self.engine.reject()
                    continue
                self.engine.process(event)
            if time.monotonic() - last_tick >= 1.0:
                last_tick = time.monotonic()
                try:
                    self.engine.tick()
                except Exception:  # an analytic's timer failing must not stop detection for everyone
                    self.engine.counters.tick_errors += 1

    def stop(self) -> None:
        for sensor in self.sensors:
            sensor.stop()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(timeout=10)

    def alerts_for(self, refs: Iterable[str], since: float = 0.0) -> list[Alert]:
        """Alerts on these objects about what happened at or after ``since``. Judged by the evidence's
        own time, not by when the alert was raised: a busy monitor may raise late an alert about a
        change made before ``since`` (by someone else, to a shared object), and that is not ours."""
        wanted = set(refs)
        with self._lock:
            return [a for a in self.alerts if a.object in wanted and a.first_seen >= since]

    def sources_for(self, refs: Iterable[str]) -> set[str]:
        with self._lock:
            found: set[str] = set()
            for ref in refs:
                found |= self.seen.get(ref, set())
            return found
