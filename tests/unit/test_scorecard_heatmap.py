"""The heatmap credits a detection to the sensor whose event raised the alert, not to every
sensor that merely saw the scenario."""

from __future__ import annotations

from harness.outcome import Outcome, RuleResult, Verdict, Visibility
from harness.scorecard.html_charts import cell_state


def detected(alert_source: str | None) -> Outcome:
    alert = {"rule_id": "r", "object": "container:x"}
    if alert_source is not None:
        alert["data_source"] = alert_source
    return Outcome(scenario_id="s", title="t", kind="adversary", techniques=["T1610"], backend="docker",
                   verdict=Verdict.DETECTED, reason="", visibility=Visibility.ALERTED,
                   rules=[RuleResult(rule_id="r", fired=True, latency_s=0.5)], alerts=[alert],
                   data_sources=["docker-events", "cgroup-resources"])


def test_the_alerting_sensor_gets_the_detection():
    assert cell_state([detected("docker-events")], "docker-events") == "detected"


def test_a_sensor_that_only_watched_is_logged_not_detected():
    assert cell_state([detected("docker-events")], "cgroup-resources") == "logged"


def test_analytics_declaring_several_sources_credit_each():
    assert cell_state([detected("packets,tracefs-tcp")], "tracefs-tcp") == "detected"


def test_older_scorecards_without_sources_keep_the_coarse_view():
    assert cell_state([detected(None)], "cgroup-resources") == "detected"


def test_missed_stays_missed():
    missed = detected("docker-events")
    missed.verdict = Verdict.MISSED
    assert cell_state([missed], "docker-events") == "missed"
