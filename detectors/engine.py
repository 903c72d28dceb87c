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
import heapq
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import EllipsisType
from typing import Any

from detectors.alert import Alert
from detectors.analytics.base import Analytic
from detectors.event import Event, object_ref
from detectors.policies import Policy, load_policy
from detectors.routing import Enricher, enrichers_for, needed_fields, routed_analytics
from detectors.sensors.base import Observer, Sensor, SensorHealth
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


class _AnalyticsList(list):
    """``DetectionEngine.analytics``: a plain list that drops the engine's dispatch lists when changed,
    so an analytic appended after the first event still sees the next one."""

    def __init__(self, items: Iterable[Analytic], changed: Callable[[], None]) -> None:
        super().__init__(items)
        self._changed = changed


def _invalidating(name: str) -> Callable[..., Any]:
    method = getattr(list, name)

    def wrapper(self: _AnalyticsList, *args: Any) -> Any:
        result = method(self, *args)
        self._changed()
        return self if name in ("__iadd__", "__imul__") else result

    wrapper.__name__ = name
    return wrapper


for _name in ("append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse", "__setitem__",
              "__delitem__", "__iadd__", "__imul__"):
    setattr(_AnalyticsList, _name, _invalidating(_name))

_NUMBERS = (int, float)
_Match = Callable[[Event], list[Any]]  # the rules an event meets
# A source's enrichers, its rules (None: no rule can meet its events) and its analytics' observe.
_Route = tuple[tuple[Enricher, ...], _Match | None, tuple[Callable[[Event], list[Alert]], ...]]
_MAX_ROUTES = 4096  # distinct (module, dataset) pairs kept; past that, routes are rebuilt per event
_ENGINE_READS = frozenset(CONTEXT_FIELDS)  # what a rule's alert copies from its event


def _with_source(alert: Alert, source: Any) -> Alert:
    """``dataclasses.replace(alert, data_source=source)``, without its generic field walk."""
    if type(alert) is not Alert:
        return dataclasses.replace(alert, data_source=source)
    return Alert(alert.rule_id, alert.title, alert.severity, alert.techniques, alert.object, alert.evidence,
                 alert.first_seen, alert.raised_at, alert.response, alert.source, source, alert.context)


class DetectionEngine:
    """``route=False`` sends every event to every policy section and analytic (the reference the
    routing is tested against); with ``route=True`` each (module, dataset) gets only those that
    can act on it, and only the sections whose fields a rule or analytic there reads (see
    ``detectors.routing``)."""

    def __init__(self, rules: RuleSet, policy: Policy | None = None, analytics: Iterable[Analytic] = (),
                 dedup_window_s: float = 120.0, shared_object_window_s: float = 2.0, route: bool = True) -> None:
        self.route = route
        self._routes: dict[tuple[Any, Any], _Route] = {}
        self.rules = rules
        self.dedup_window_s = dedup_window_s
        self.shared_object_window_s = shared_object_window_s
        self.policy = policy or load_policy()
        self.analytics = analytics  # the setter keeps a list
        self.counters = Counters()
        self._raised: dict[tuple[str, str], list[float]] = {}  # key -> [first_seen of the alert, repeats]
        # (first_seen, key) of every fresh alert, so a tick finds the expired keys without a scan of
        # all of them; an entry whose key was raised again since is stale and skipped.
        self._expiry: list[tuple[float, tuple[str, str]]] = []
        self._sinks: list[AlertSink] = []

    @property
    def rules(self) -> RuleSet:
        return self._rules

    @rules.setter
    def rules(self, rules: RuleSet) -> None:
        self._rules = rules
        self.reroute()  # the sections a source needs follow what its rules read

    @property
    def policy(self) -> Policy:
        return self._policy

    @policy.setter
    def policy(self, policy: Policy) -> None:
        self._policy = policy
        self.reroute()

    @property
    def analytics(self) -> list[Analytic]:
        return self._analytics

    @analytics.setter
    def analytics(self, analytics: Iterable[Analytic]) -> None:
        self._analytics = _AnalyticsList(analytics, self.reroute)
        self.reroute()

    def reroute(self) -> None:
        """Forget the dispatch lists (they are rebuilt on the next event). Call it after changing the
        policy's sections in place; changing ``analytics`` or assigning ``policy`` does it already."""
        self._routes = {}

    def _route_for(self, key: tuple[Any, Any] | None) -> _Route:
        sections = self._policy.sections.values()
        if not self.route:
            key = None
        analytics = routed_analytics(self._analytics, key)
        rules = self._rules
        rule_reads = None
        match: _Match | None = rules.match
        if key is not None and isinstance(rules, RuleSet):
            rule_reads = rules.reads_for(*key) | _ENGINE_READS
            match = rules.matcher_for(*key)
        route = (enrichers_for(sections, key, needed_fields(rule_reads, analytics, key)), match,
                 tuple(analytic.observe for analytic in analytics))
        if key is not None and len(self._routes) < _MAX_ROUTES:
            self._routes[key] = route
        return route

    def subscribe(self, sink: AlertSink) -> None:
        self._sinks.append(sink)

    def process(self, event: Event) -> list[Alert]:
        """Evaluate one event synchronously. Returns the alerts it raised (also sent to sinks)."""
        self.counters.events += 1
        try:
            get = event.get
            key: tuple[Any, Any] | None
            try:
                key = (get("event.module"), get("event.dataset"))
                route = self._routes.get(key)
            except TypeError:  # a list where a string belongs: every section and analytic, unrouted
                key, route = None, None
            if route is None:
                route = self._route_for(key)
            enrichers, match, observers = route
            for need, enrich in enrichers:
                if need is None or need in event:
                    enrich(event)
            matched = match(event) if match is not None else None
            alerts = [self._from_rule(rule, event) for rule in matched] if matched else []
            for observe in observers:
                found = observe(event)
                if found:
                    alerts.extend(found)
            if not alerts:
                return alerts
            # Inside the guard too: dedup does arithmetic on the event's own timestamp, which a
            # malformed event may hold as any type (found by the malformed-telemetry drill).
            return self._emit(alerts, get("observer.name", ""))
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
        # Forget expired dedup keys, so memory follows the number of live objects, not history. The
        # heap is ordered by first_seen, so the expired ones are a prefix of it.
        raised, expiry, window = self._raised, self._expiry, self.dedup_window_s
        while expiry and now - expiry[0][0] >= window:
            first, key = heapq.heappop(expiry)
            seen = raised.get(key)
            if seen is not None and seen[0] == first:
                del raised[key]
        alerts: list[Alert] = []
        for analytic in self._analytics:
            declared = ",".join(getattr(analytic, "data_sources", ()) or ())
            try:
                raised = analytic.tick(now)
            except Exception:  # one analytic's timer failing must cost neither the others nor the caller
                self.counters.tick_errors += 1
                continue
            alerts.extend(a if a.data_source else dataclasses.replace(a, data_source=declared) for a in raised)
        return self._emit(alerts)

    def _from_rule(self, rule: Any, event: Event) -> Alert:
        return Alert(
            rule_id=rule.rule_id, title=rule.title, severity=rule.level, techniques=tuple(rule.techniques),
            object=object_ref(event) or "unknown", evidence=(event["event.id"],),
            first_seen=event["event.created"], response=rule.response or "", source="sigma",
            context={k: event[k] for k in CONTEXT_FIELDS if k in event},
        )

    def _emit(self, alerts: list[Alert], source: Any = "") -> list[Alert]:
        """Dedup, count and send. ``source``: the data source for alerts that name none (the event's
        sensor), set on the fresh ones only: dedup does not look at it."""
        for alert in alerts:
            if type(alert.first_seen) not in _NUMBERS:
                # A malformed event's timestamp: refuse before any side effect (``process`` counts it
                # dropped), or it would sit in the dedup table and break every later tick.
                raise TypeError("alert with a non-numeric first_seen")
        fresh = []
        raised = self._raised
        for alert in alerts:
            key = (alert.rule_id, alert.object)
            seen = raised.get(key)
            window = self.dedup_window_s if alert.object.startswith("container:") else self.shared_object_window_s
            # Event time, not wall time: a replay of recorded telemetry dedups exactly as live did.
            if seen is not None and alert.first_seen - seen[0] < window:
                seen[1] += 1
                continue
            raised[key] = [alert.first_seen, 0]
            if alert.first_seen == alert.first_seen:  # a NaN never expires (nor orders in a heap)
                heapq.heappush(self._expiry, (alert.first_seen, key))
            if source and not alert.data_source:
                alert = _with_source(alert, source)
            fresh.append(alert)
            self.counters.alerts += 1
            for sink in self._sinks:
                sink(alert)
        return fresh


def _thread_ended(sensor: Sensor) -> bool:
    """Did the sensor's thread end? Asked through ``alive`` (``ThreadedSensor``); a sensor without
    it may still keep its thread in ``_thread``; one with neither has no thread to lose."""
    alive = getattr(sensor, "alive", None)
    if isinstance(alive, bool):
        return not alive
    thread = getattr(sensor, "_thread", None)
    return isinstance(thread, threading.Thread) and not thread.is_alive()


class Monitor:
    """Sensors feeding one engine on a worker thread: the thing `stowaway watch` and the harness run."""

    def __init__(self, engine: DetectionEngine, sensors: Iterable[Sensor]) -> None:
        self.engine = engine
        self.sensors = list(sensors)
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        # Sensors that follow other telemetry (FIM watching a new container's log file) see every event.
        self._observers: list[Observer] = [s for s in self.sensors if isinstance(s, Observer)]
        self.alerts: list[Alert] = []
        self.seen: dict[str, set[str]] = {}  # object ref -> sensors that reported it
        # Read-only observers of the raw stream (recording, the harness's neutrality scan): they see
        # each event as the sensor emitted it, before enrichment, on the engine's thread.
        self._taps: list[Callable[[Event], None]] = []
        self.tap_failures = 0
        self.observer_errors = 0
        self._failed: dict[str, str] = {}  # sensor name -> why it failed to start or stop
        engine.subscribe(self._keep)

    def _keep(self, alert: Alert) -> None:
        with self._lock:
            self.alerts.append(alert)

    def add_tap(self, tap: Callable[[Event], None]) -> None:
        """Call ``tap`` with a copy of every event before the engine sees it. A tap that raises is
        removed: it must never cost detection an event."""
        with self._lock:
            self._taps.append(tap)

    def _tap(self, event: Event) -> None:
        for tap in list(self._taps):
            try:
                tap(dict(event))
            except Exception:
                with self._lock:
                    self._taps.remove(tap)
                    self.tap_failures += 1

    def _emit_from(self, sensor_name: str) -> Callable[[Event], None]:
        def emit(event: Event) -> None:
            event.setdefault("observer.name", sensor_name)
            self._queue.put(event)

        return emit

    def start(self) -> None:
        """Start the engine's worker and every sensor. A sensor that raises is recorded as failed and
        left out; the others start anyway (each sensor is optional and independent)."""
        self._worker = threading.Thread(target=self._drain, name="detection-engine", daemon=True)
        self._worker.start()
        for sensor in self.sensors:
            try:
                sensor.start(self._emit_from(sensor.name))
            except Exception as exc:
                self._failed[sensor.name] = f"did not start: {type(exc).__name__}: {exc}"
                failed: object = sensor  # an observer too, maybe: it must not be fed events now
                with self._lock:
                    self._observers = [o for o in self._observers if o is not failed]

    def health(self) -> list[SensorHealth]:
        """Each sensor's state now: running, unavailable (with its own reason), failed or stopped."""
        out = []
        for sensor in self.sensors:
            try:
                stats = dict(sensor.stats)
            except Exception:
                stats = {}
            unavailable = str(getattr(sensor, "unavailable", "") or "")
            if sensor.name in self._failed:
                out.append(SensorHealth(sensor.name, "failed", self._failed[sensor.name], stats))
            elif unavailable:
                out.append(SensorHealth(sensor.name, "unavailable", unavailable, stats))
            elif _thread_ended(sensor) and self._worker is not None and self._worker.is_alive():
                reason = str(getattr(sensor, "failure", "") or "") or "its thread ended while the monitor ran"
                out.append(SensorHealth(sensor.name, "stopped", reason, stats))
            else:
                out.append(SensorHealth(sensor.name, "running", "", stats))
        return out

    def _drain(self) -> None:
        last_tick = time.monotonic()
        event: Event | EllipsisType | None  # ...: nothing came, only time passed
        while True:
            try:
                event = self._queue.get(timeout=0.2)
            except queue.Empty:
                event = ...
            if event is None:
                return
            if event is not ...:
                if self._taps:
                    self._tap(event)
                try:
                    ref = object_ref(event)
                    if ref:
                        with self._lock:
                            self.seen.setdefault(ref, set()).add(event.get("observer.name", "?"))
                except Exception:  # a malformed event must not kill the worker, and with it detection
                    self.engine.reject()
                    continue
                for observer in self._observers:
                    try:
                        observer.observe(event)
                    except Exception:  # one sensor's follow-up failing costs neither detection nor the others
                        self.observer_errors += 1
                self.engine.process(event)
            if time.monotonic() - last_tick >= 1.0:
                last_tick = time.monotonic()
                try:
                    self.engine.tick()
                except Exception:  # an analytic's timer failing must not stop detection for everyone
                    self.engine.counters.tick_errors += 1

    def stop(self) -> None:
        for sensor in self.sensors:
            try:
                sensor.stop()
            except Exception as exc:  # the rest must still stop and release what they hold
                self._failed.setdefault(sensor.name, f"did not stop: {type(exc).__name__}: {exc}")
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
