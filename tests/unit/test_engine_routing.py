"""Routing by (module, dataset) changes no detection: every recorded fixture, replayed through the
engine with routing and with routing switched off, gives the same alerts, and enriched events that
differ only by policy fields nobody who sees them reads.

The unrouted engine hands every event to every policy section and every analytic, as the engine did
before it routed; the routed one hands each event only to those that declare they can act on it,
and only to the sections that write a field a rule or analytic of its source reads
(``detectors.routing``). A wrong declaration (an analytic routed away from a dataset it does use, a
reader that does not declare a field it reads) shows up here as a missing alert or a field that
differs; ``test_enrichment_declarations`` checks the declarations themselves.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from detectors.alert import Alert
from detectors.analytics import default_analytics
from detectors.analytics.swarm_drift import ServiceSpecDrift
from detectors.engine import CONTEXT_FIELDS, DetectionEngine, load_rules
from detectors.event import new_event
from detectors.policies import load_policy
from detectors.routing import needed_fields, overlaps, routed_analytics
from detectors.sensors.k8s_audit import AuditNormaliser
from harness.bench.telemetry import generate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
POLICY = load_policy()
RULES = load_rules()


def recorded(path: Path) -> list[dict[str, Any]]:
    """The events a fixture file holds: a list of events, ``{"events": [...]}``, ``{"samples": [...]}``
    (resource samples), or one raw audit record (normalised by the audit sensor); else none."""
    doc = json.loads(path.read_text())
    if isinstance(doc, dict) and doc.get("kind") == "Event" and "auditID" in doc:
        event = AuditNormaliser().normalise(doc)
        return [event] if event is not None else []
    if isinstance(doc, dict):
        doc = doc.get("events", doc.get("samples"))
    if not isinstance(doc, list):
        return []
    return [event for event in doc if isinstance(event, dict) and "event.dataset" in event]


FIXTURE_FILES = sorted(path for path in FIXTURES.rglob("*.json") if recorded(path))


def engine(route: bool) -> DetectionEngine:
    return DetectionEngine(RULES, POLICY, default_analytics(POLICY), route=route)


def alert_key(alert: Alert) -> tuple[Any, ...]:
    return (alert.rule_id, alert.object, alert.evidence, alert.first_seen, alert.data_source,
            json.dumps(alert.context, sort_keys=True, default=str))


def run(events: list[dict[str, Any]], route: bool) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]], int]:
    """Replay as ``detectors.replay`` does (a tick per second of event time): (alerts, enriched events,
    dropped)."""
    det = engine(route)
    alerts: list[Alert] = []
    enriched = []
    last_tick = float("-inf")
    for original in events:
        event = copy.deepcopy(original)
        alerts.extend(det.process(event))
        enriched.append(event)
        created = event.get("event.created")
        if type(created) is float and created - last_tick >= 1.0:
            last_tick = created
            alerts.extend(det.tick(created))
    alerts.extend(det.tick(last_tick + 3600.0))  # whatever the analytics still hold
    return [alert_key(a) for a in alerts], enriched, det.counters.dropped


ANALYTICS = default_analytics(POLICY)


@functools.cache
def read_on(key: tuple[Any, Any]) -> frozenset[str] | None:
    """What the rules and analytics an event of this source reaches read, as the routed engine decides it."""
    return needed_fields(RULES.reads_for(*key) | set(CONTEXT_FIELDS), routed_analytics(ANALYTICS, key), key)


def assert_same(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    routed_alerts, routed_events, routed_dropped = run(events, route=True)
    plain_alerts, plain_events, plain_dropped = run(events, route=False)
    assert routed_alerts == plain_alerts
    assert routed_dropped == plain_dropped
    for routed, plain in zip(routed_events, plain_events, strict=True):
        # What the routed engine wrote, it wrote as the unrouted one did; what it left out, nobody reads.
        assert {key: plain.get(key) for key in routed} == routed
        left_out = set(plain) - set(routed)
        if left_out:
            needed = read_on((plain.get("event.module"), plain.get("event.dataset")))
            assert needed is not None and not overlaps(needed, left_out), left_out
    return routed_alerts


def test_the_fixtures_are_found():
    assert len(FIXTURE_FILES) >= 50
    datasets = {e["event.dataset"] for path in FIXTURE_FILES for e in recorded(path)}
    assert {"docker.events", "linux.process", "linux.resources", "network.flow", "kubernetes.audit",
            "swarm.services"} <= datasets


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_routing_changes_no_alert_on_a_recorded_fixture(path):
    assert_same(recorded(path))


def test_routing_changes_no_alert_on_all_fixtures_interleaved():
    """One stream of every fixture, by time: analytics with state across datasets see them mixed."""
    events = [e for path in FIXTURE_FILES for e in recorded(path)]
    events.sort(key=lambda e: e["event.created"] if isinstance(e.get("event.created"), int | float) else 0.0)
    alerts = assert_same(events)
    assert len({a[0] for a in alerts}) >= 10  # the comparison is about real detections, not silence


def test_routing_changes_no_alert_on_the_bench_mix():
    """The bench's generated mix: every dataset, a fleet of containers, an hour of ticks' worth."""
    alerts = assert_same(list(generate(6000, seed=3)))
    assert alerts


def test_routing_skips_what_cannot_act():
    det = engine(route=True)
    det.process(new_event("linux", "linux.resources", "sample", container__id="c1"))
    enrichers, match, observers = det._routes[("linux", "linux.resources")]
    names = {type(getattr(fn, "__self__", None)).__name__ for fn in observers}
    assert "CpuSpike" in names and "ServiceSpecDrift" not in names and "BeaconAnalytic" not in names
    assert "KubernetesPolicy" not in {type(enrich.__self__).__name__ for _, enrich in enrichers}
    assert match is None  # no rule reads resource samples


def test_enrichment_follows_what_is_read():
    """A resource sample is enriched with what the resource analytics (its budget) and the new-peer
    analytic (the service's baseline) read, not with the image or egress verdicts nobody reads there;
    an engine event gets the image verdicts its rules read."""
    det = engine(route=True)
    det.process(new_event("linux", "linux.resources", "sample", container__id="c1"))
    det.process(new_event("docker", "docker.events", "start", container__id="c1"))
    sections = {key: {type(enrich.__self__).__name__ for _, enrich in route[0]} for key, route in det._routes.items()}
    assert {"ResourcesPolicy", "BaselinePolicy"} <= sections[("linux", "linux.resources")]
    assert not {"ImagesPolicy", "EgressPolicy", "TrustPolicy"} & sections[("linux", "linux.resources")]
    assert "ImagesPolicy" in sections[("docker", "docker.events")]


def test_a_reader_without_a_declaration_gets_every_section():
    class Undeclared:
        rule_id = "z"

        def observe(self, event):
            return []

        def tick(self, now):
            return []

    det = engine(route=True)
    det.analytics.append(Undeclared())
    event = new_event("linux", "linux.resources", "sample", container__id="c1", container__image__id="sha256:x",
                      container__image__name="registry.example/app:1")
    det.process(event)
    assert "policy.image.approved" in event  # nobody said the undeclared analytic would not read it


def test_an_analytic_without_a_declaration_sees_every_event():
    seen = []

    class Counter:
        rule_id = "x"

        def observe(self, event):
            seen.append(event["event.dataset"])
            return []

        def tick(self, now):
            return []

    det = engine(route=True)
    det.process(new_event("linux", "linux.resources", "sample", container__id="c1"))
    det.analytics.append(Counter())  # after the first event: the dispatch lists are rebuilt
    for dataset in ("linux.resources", "swarm.services", "made.up"):
        det.process(new_event("linux", dataset, "x", container__id="c1"))
    assert seen == ["linux.resources", "swarm.services", "made.up"]


def test_an_event_with_a_list_for_its_dataset_still_reaches_everything():
    det = engine(route=True)
    reached = []
    drift = ServiceSpecDrift(POLICY)

    class Spy:
        rule_id = "y"

        def observe(self, event):
            reached.append(True)
            return drift.observe(event)

        def tick(self, now):
            return []

    det.analytics.append(Spy())
    det.process(new_event("swarm", ["swarm.services"], "update"))  # type: ignore[arg-type]
    assert reached == [True]
