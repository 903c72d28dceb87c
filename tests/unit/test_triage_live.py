"""A watch's triage of its own alert over the events it kept: the same sections as explain-alert on
the same events, said to come from the watch, and honest about what the kept window lost."""

from __future__ import annotations

from pathlib import Path

from harness import triage
from harness.replay import load_run
from harness.triage.live import FROM_WATCH, LiveEvents
from lab import LabPaths

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "fixtures" / "runs" / "docker-recorded"
LOGGING = "stowaway.docker.logging-disabled"


def _fed(tmp_path: Path, max_events: int = 100_000) -> tuple[LiveEvents, list, triage.RunAlert]:
    run = load_run(RECORDED)
    live = LiveEvents(LabPaths(state=tmp_path / "s", runtime=tmp_path / "r"), "20990101-000000-watch1",
                      max_events=max_events)
    for event in run.events:
        live.tap(event)
    alerts, _ = triage.load_alerts(run)
    chosen = next(a for a in alerts if a.alert.rule_id == LOGGING)
    return live, [a.alert for a in alerts], chosen


def test_the_watchs_triage_matches_explain_alert_on_the_same_events(tmp_path: Path) -> None:
    live, alerts, chosen = _fed(tmp_path)
    found = live.explain(chosen.alert, alerts)
    assert found.alerts_from == FROM_WATCH and found.run_id == "20990101-000000-watch1"
    run = load_run(RECORDED)
    listed = [triage.RunAlert(a, ()) for a in alerts]
    detector = triage.load_detector(LOGGING)
    offline_run = type("Run", (), {"events": run.events, "platform": None, "run_id": run.run_id})()
    policy, platform = triage.load_policy_context(offline_run, chosen.alert, detector)
    offline = triage.triage(next(r for r in listed if r.alert is chosen.alert), listed, run.events, detector, policy,
                            platform, run.run_id, "x")
    assert found.workload == offline.workload and found.deployment == offline.deployment
    assert found.activity == offline.activity and found.related == offline.related
    driver = next(f for f in found.workload.facts if f.name == "log driver")
    assert driver.value == "none"  # the alert's own reason, read from the engine's event about it


def test_off_the_lab_nothing_published_means_no_platform_facts_and_says_so(tmp_path: Path) -> None:
    live, alerts, chosen = _fed(tmp_path)
    found = live.explain(chosen.alert, alerts)
    assert "no platform facts" in found.benign.policy_source


def test_a_window_that_lost_the_create_event_says_the_workload_is_not_seen(tmp_path: Path) -> None:
    live, alerts, chosen = _fed(tmp_path, max_events=3)  # only the run's last three events are kept
    found = live.explain(chosen.alert, alerts)
    driver = next(f for f in found.workload.facts if f.name == "log driver")
    assert driver.value is None and driver.event_id is None  # rendered "not in the telemetry"
