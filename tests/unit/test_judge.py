"""The pure judge: every verdict from hand-made alerts, no lab and no clock."""

from __future__ import annotations

import pytest

from detectors.alert import Alert
from harness.judge import judge
from harness.outcome import Collateral, Outcome, Verdict, Visibility
from scenarios.api import Expectation, Kind

ACTION_AT = 1_000.0
OBJECT = "container:abc123"
EXPECTED = "stowaway.docker.logging-disabled"
EGRESS = "stowaway.net.process-egress-not-allowlisted"
PRIVILEGED = "stowaway.docker.privileged-container"


def alert(rule_id: str, raised_at: float = ACTION_AT + 1.5, obj: str = OBJECT) -> Alert:
    return Alert(rule_id=rule_id, title=rule_id, severity="high", techniques=("T1562.001",), object=obj,
                 evidence=("evt-1",), first_seen=raised_at - 0.1, raised_at=raised_at)


ADVERSARY = Expectation(fires=(EXPECTED,), within_s=15,
                        may_fire={EGRESS: "Its payload really sends host details to the lab internet."})
BENIGN = Expectation(silent=(EXPECTED,), window_s=8)


def test_detected_measures_latency_from_the_action() -> None:
    result = judge(Kind.ADVERSARY, ADVERSARY, [alert(EXPECTED, ACTION_AT + 1.5)], ACTION_AT, ["docker-events"])
    assert result.verdict is Verdict.DETECTED and result.visibility is Visibility.ALERTED
    assert result.latency_s == 1.5
    assert [(r.rule_id, r.fired, r.alert_count, r.latency_s) for r in result.rules] == [(EXPECTED, True, 1, 1.5)]
    assert result.collateral == () and "fired after 1.50s" in result.reason


def test_an_alert_before_the_action_counts_as_zero_latency() -> None:
    result = judge(Kind.ADVERSARY, ADVERSARY, [alert(EXPECTED, ACTION_AT - 2)], ACTION_AT, [])
    assert result.verdict is Verdict.DETECTED and result.latency_s == 0.0


def test_detected_takes_the_worst_expected_rule() -> None:
    expect = Expectation(fires=(EXPECTED, PRIVILEGED))
    alerts = [alert(EXPECTED, ACTION_AT + 0.4), alert(PRIVILEGED, ACTION_AT + 3.2)]
    assert judge(Kind.ADVERSARY, expect, alerts, ACTION_AT, []).latency_s == 3.2


def test_missed_with_telemetry_is_logged() -> None:
    result = judge(Kind.ADVERSARY, ADVERSARY, [], ACTION_AT, ["tracefs-exec", "docker-events"])
    assert result.verdict is Verdict.MISSED and result.visibility is Visibility.LOGGED
    assert result.latency_s is None and not result.rules[0].fired
    assert "no alert from stowaway.docker.logging-disabled within 15s" in result.reason
    assert "the telemetry was there (docker-events, tracefs-exec)" in result.reason


def test_missed_without_telemetry_saw_nothing() -> None:
    result = judge(Kind.ADVERSARY, ADVERSARY, [], ACTION_AT, [])
    assert result.verdict is Verdict.MISSED and result.visibility is Visibility.NONE
    assert "telemetry" not in result.reason


def test_missed_when_only_one_of_two_expected_rules_fired() -> None:
    expect = Expectation(fires=(EXPECTED, PRIVILEGED))
    result = judge(Kind.ADVERSARY, expect, [alert(EXPECTED)], ACTION_AT, ["docker-events"])
    assert result.verdict is Verdict.MISSED and PRIVILEGED in result.reason and EXPECTED not in result.reason


def test_benign_silent() -> None:
    result = judge(Kind.BENIGN, BENIGN, [], ACTION_AT, ["docker-events"])
    assert result.verdict is Verdict.SILENT and result.visibility is Visibility.LOGGED
    assert [(r.rule_id, r.fired) for r in result.rules] == [(EXPECTED, False)]
    assert result.collateral == ()


def test_benign_false_positive_from_any_rule_not_only_the_watched_ones() -> None:
    result = judge(Kind.BENIGN, BENIGN, [alert(PRIVILEGED)], ACTION_AT, ["docker-events"])
    assert result.verdict is Verdict.FALSE_POSITIVE and result.visibility is Visibility.ALERTED
    assert result.reason == f"alerted: {PRIVILEGED}"
    assert [(r.rule_id, r.fired) for r in result.rules] == [(EXPECTED, False)]
    assert result.collateral == ()  # on a benign scenario every alert already decides the verdict


def test_allowed_collateral_keeps_the_outcome_passing() -> None:
    alerts = [alert(EXPECTED), alert(EGRESS)]
    result = judge(Kind.ADVERSARY, ADVERSARY, alerts, ACTION_AT, ["docker-events"])
    assert result.verdict is Verdict.DETECTED
    assert result.collateral == (Collateral(EGRESS, OBJECT, allowed=True,
                                            reason="Its payload really sends host details to the lab internet."),)
    assert "unlisted" not in result.reason
    assert _outcome(result).passed


def test_unlisted_collateral_is_a_false_positive_that_fails_a_detected_outcome() -> None:
    alerts = [alert(EXPECTED), alert(PRIVILEGED, obj="container:other"), alert(PRIVILEGED), alert(EGRESS)]
    result = judge(Kind.ADVERSARY, ADVERSARY, alerts, ACTION_AT, ["docker-events"])
    assert result.verdict is Verdict.DETECTED  # the verdict stays about the expected rule
    assert [(c.rule_id, c.object, c.allowed) for c in result.collateral] == [
        (PRIVILEGED, "container:abc123", False),
        (PRIVILEGED, "container:other", False),
        (EGRESS, OBJECT, True),
    ]  # sorted by rule, then object
    assert all(c.reason == "" for c in result.collateral if not c.allowed)
    assert f"unlisted collateral, a false positive of {PRIVILEGED}" in result.reason
    outcome = _outcome(result)
    assert not outcome.passed and [c.rule_id for c in outcome.unlisted_collateral] == [PRIVILEGED, PRIVILEGED]


def test_unlisted_collateral_on_a_missed_outcome_is_reported_too() -> None:
    result = judge(Kind.ADVERSARY, ADVERSARY, [alert(PRIVILEGED)], ACTION_AT, ["docker-events"])
    assert result.verdict is Verdict.MISSED
    assert [c.rule_id for c in result.collateral] == [PRIVILEGED] and PRIVILEGED in result.reason


@pytest.mark.parametrize(("verdict", "passed"), [
    (Verdict.DETECTED, True), (Verdict.SILENT, True), (Verdict.MISSED, False),
    (Verdict.FALSE_POSITIVE, False), (Verdict.ERROR, False), (Verdict.SKIPPED, False),
])
def test_a_skip_is_not_a_pass(verdict: Verdict, passed: bool) -> None:
    assert verdict.passed is passed


def _outcome(result) -> Outcome:
    return Outcome(scenario_id="s", title="t", kind="adversary", techniques=["T1562.001"], backend="docker",
                   verdict=result.verdict, reason=result.reason, collateral=list(result.collateral))
