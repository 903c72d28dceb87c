"""The detection engine: dedup per (rule, object), malformed events counted, analytics ticked."""

from __future__ import annotations

from detectors.alert import Alert
from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, load_rules
from detectors.event import new_event
from detectors.policies import Policy


def start(cid: str, driver: str = "none") -> dict:
    return new_event("docker", "docker.events", "start", container__id=cid, container__logging__driver=driver,
                     container__network__names=["x-lan"])


def engine(analytics=()) -> DetectionEngine:
    return DetectionEngine(load_rules([DEFAULT_RULE_DIR]), Policy(), analytics)


def test_one_alert_per_rule_and_object():
    det = engine()
    assert len(det.process(start("a"))) == 1
    assert det.process(start("a")) == []
    assert len(det.process(start("b"))) == 1
    assert det.counters.alerts == 2


def test_alert_carries_evidence_and_techniques():
    det = engine()
    event = start("c")
    (alert,) = det.process(event)
    assert alert.object == "container:c"
    assert alert.evidence == (event["event.id"],)
    assert "T1562.001" in alert.techniques
    assert alert.first_seen == event["event.created"]


def test_other_log_drivers_do_not_fire():
    assert engine().process(start("d", driver="json-file")) == []


def test_malformed_event_is_counted_not_fatal():
    det = engine()

    class Boom:
        rule_id = "x"

        def observe(self, event):
            raise ValueError("broken")

        def tick(self, now):
            return []

    det.analytics.append(Boom())
    assert det.process({"event.module": "docker"}) == []
    assert det.counters.dropped == 1


def test_tick_reaches_analytics():
    class Clock:
        rule_id = "stowaway.analytic.clock"

        def observe(self, event):
            return []

        def tick(self, now):
            return [Alert(rule_id=self.rule_id, title="t", severity="low", techniques=(), object="node:1",
                          evidence=(), first_seen=now)]

    det = engine([Clock()])
    assert [a.rule_id for a in det.tick(10.0)] == ["stowaway.analytic.clock"]
    assert det.tick(11.0) == []  # same rule, same object: once


def test_a_repeat_after_the_dedup_window_is_a_new_alert():
    det = engine()
    first = start("e")
    assert len(det.process(first)) == 1
    later = start("e")
    later["event.created"] = first["event.created"] + det.dedup_window_s + 1
    assert len(det.process(later)) == 1


def test_tick_forgets_expired_dedup_keys():
    det = engine()
    event = start("f")
    det.process(event)
    det.tick(event["event.created"] + det.dedup_window_s + 1)
    assert det._raised == {}


def test_each_change_to_a_shared_object_is_its_own_alert():
    class FileWatch:
        rule_id = "stowaway.analytic.file"

        def observe(self, event):
            return [Alert(rule_id=self.rule_id, title="t", severity="low", techniques=(), object="file:/etc/x",
                          evidence=(event["event.id"],), first_seen=event["event.created"])]

        def tick(self, now):
            return []

    det = engine([FileWatch()])
    first = new_event("linux", "linux.fim", "modified", created=100.0)
    echo = new_event("linux", "linux.fim", "modified", created=100.5)  # the same change, seen twice
    later = new_event("linux", "linux.fim", "modified", created=130.0)  # a new change a little later
    assert len(det.process(first)) == 1
    assert det.process(echo) == []
    assert len(det.process(later)) == 1


def test_an_analytic_whose_timer_raises_costs_the_others_nothing() -> None:
    from detectors.alert import Alert

    class Broken:
        rule_id = "test.broken"

        def observe(self, event):
            return []

        def tick(self, now):
            raise ValueError("could not convert string to float: ''")

    class Steady:
        rule_id = "test.steady"

        def observe(self, event):
            return []

        def tick(self, now):
            return [Alert(rule_id="test.steady", title="t", severity="low", techniques=(), object="container:x",
                          evidence=("e1",), first_seen=now)]

    engine = DetectionEngine(load_rules([DEFAULT_RULE_DIR]), Policy(), [Broken(), Steady()])
    assert [a.rule_id for a in engine.tick(1000.0)] == ["test.steady"]
    assert engine.counters.tick_errors == 1


def test_a_log_deletion_with_a_malformed_time_is_not_kept_for_later() -> None:
    from detectors.analytics.container_logs import GRACE_S, ContainerLogDeleted

    analytic = ContainerLogDeleted(Policy())
    bad = new_event("docker", "docker.container_logs", "deleted", container__id="c1")
    bad["event.created"] = ""  # found by the malformed-telemetry drill
    analytic.observe(bad)
    assert analytic.tick(10_000.0 + GRACE_S) == []
