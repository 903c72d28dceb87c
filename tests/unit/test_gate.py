"""The regression gate: what fails it, what it only reports, and its command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scorecard_fixtures import (
    FALSE_POSITIVE_ID,
    FALSE_POSITIVE_RULE,
    MISSED_ID,
    SKIPPED_ID,
    SOAK_RULES,
    UNLISTED_ID,
    UNLISTED_RULE,
    clean_run,
    make_run,
    soak,
)

from harness.gate import GateInputError, compare, main, update_baseline
from harness.outcome import RuleResult, RunResult, Verdict
from harness.scorecard.json_report import ScorecardFormatError, from_json, to_json, write_json

BASELINE = Path(__file__).resolve().parents[2] / "harness" / "baseline" / "scorecard.json"


def _scorecard(run=None) -> dict[str, Any]:
    return to_json(run or clean_run())


def _outcome(data: dict[str, Any], scenario_id: str) -> dict[str, Any]:
    return next(o for o in data["outcomes"] if o["scenario_id"] == scenario_id)


def test_identical_runs_pass_with_nothing_to_report() -> None:
    result = compare(_scorecard(), _scorecard())
    assert result.passed
    assert not (
        result.lost or result.new_false_positives or result.slower or result.improved or result.new_scenarios
    )


def test_lost_detection_fails_and_names_the_scenario() -> None:
    current = _scorecard()
    row = _outcome(current, "docker.resources.cpu-miner")
    row.update(verdict="missed", latency_s=None, reason="cpu-spike did not fire within 30 s")
    result = compare(current, _scorecard())
    assert not result.passed
    assert [f.scenario_id for f in result.lost] == ["docker.resources.cpu-miner"]
    assert "now missed" in result.lost[0].detail
    assert "docker.resources.cpu-miner" in result.to_markdown()


def test_scenario_absent_from_current_run_is_a_lost_detection() -> None:
    current = _scorecard()
    current["outcomes"] = [
        o for o in current["outcomes"] if o["scenario_id"] != "docker.logging.log-driver-none"
    ]
    result = compare(current, _scorecard())
    assert [f.scenario_id for f in result.lost] == ["docker.logging.log-driver-none"]
    assert "absent" in result.lost[0].detail


def test_detected_now_skipped_is_lost() -> None:
    current = _scorecard()
    _outcome(current, "docker.escape.docker-socket-mount").update(verdict="skipped", latency_s=None)
    assert [f.scenario_id for f in compare(current, _scorecard()).lost] == [
        "docker.escape.docker-socket-mount"
    ]


def test_new_false_positive_fails_and_names_scenario_and_rule() -> None:
    baseline = _scorecard()  # the rollout is silent in the clean run
    current = _scorecard(make_run())  # ...and a false positive here (also the kworker miss)
    result = compare(current, baseline)
    assert not result.passed
    assert [f.scenario_id for f in result.new_false_positives] == [FALSE_POSITIVE_ID]
    assert FALSE_POSITIVE_RULE in result.new_false_positives[0].detail
    # the kworker now missed, and the nsenter scenario now skipped, were detected in the clean run
    assert sorted(f.scenario_id for f in result.lost) == sorted([MISSED_ID, SKIPPED_ID])


def test_known_false_positive_passes_but_a_new_rule_on_it_fails() -> None:
    baseline = _scorecard(make_run())
    assert compare(_scorecard(make_run()), baseline).new_false_positives == []

    run = make_run()
    fp = next(o for o in run.outcomes if o.scenario_id == FALSE_POSITIVE_ID)
    fp.rules.append(RuleResult("stowaway.docker.unsanctioned-registry", True, 0.8, 1))
    result = compare(_scorecard(run), baseline)
    assert [f.scenario_id for f in result.new_false_positives] == [FALSE_POSITIVE_ID]
    assert "stowaway.docker.unsanctioned-registry" in result.new_false_positives[0].detail
    # Only the rule that is new is named as new; the known one is still in the quoted reason.
    assert result.new_false_positives[0].detail.startswith("stowaway.docker.unsanctioned-registry now fires")


def test_new_benign_scenario_that_alerts_is_a_new_false_positive() -> None:
    current = _scorecard()
    extra = dict(_outcome(current, FALSE_POSITIVE_ID))
    extra.update(
        scenario_id="docker.deploy.blue-green-rollout",
        verdict="false_positive",
        rules=[{"rule_id": FALSE_POSITIVE_RULE, "fired": True, "latency_s": 1.0, "alert_count": 1}],
    )
    current["outcomes"].append(extra)
    result = compare(current, _scorecard())
    assert [f.scenario_id for f in result.new_false_positives] == ["docker.deploy.blue-green-rollout"]
    assert result.new_scenarios == []


@pytest.mark.parametrize(
    ("before", "after", "slower"),
    [
        (1.0, 8.0, True),  # +7 s and x8: both exceeded
        (0.2, 0.9, False),  # x4.5 but only +0.7 s: jitter on a fast rule
        (30.0, 34.0, False),  # +4 s but only x1.13: noise on a slow analytic
        (2.0, 4.1, True),  # +2.1 s and x2.05: just past both
        (2.0, 4.0, False),  # +2.0 s and x2.0 exactly: "more than" is strict
    ],
)
def test_latency_fails_only_beyond_both_thresholds(before: float, after: float, slower: bool) -> None:
    baseline, current = _scorecard(), _scorecard()
    _outcome(baseline, "docker.logging.log-driver-none")["latency_s"] = before
    _outcome(current, "docker.logging.log-driver-none")["latency_s"] = after
    result = compare(current, baseline, latency_tolerance_s=2.0, latency_ratio=2.0)
    assert [f.scenario_id for f in result.slower] == (["docker.logging.log-driver-none"] if slower else [])
    assert result.passed is not slower


def test_improvements_and_new_scenarios_are_reported_not_failed() -> None:
    baseline = _scorecard(make_run())  # kworker missed, rollout false positive
    current = _scorecard()  # both fixed
    new = dict(_outcome(current, "docker.resources.cpu-miner"))
    new.update(
        scenario_id="docker.network.dns-hijack", techniques=["T1090"], verdict="missed", latency_s=None
    )
    current["outcomes"].append(new)
    _outcome(baseline, "docker.resources.cpu-miner")["latency_s"] = 14.8
    _outcome(current, "docker.resources.cpu-miner")["latency_s"] = 3.0
    result = compare(current, baseline)
    assert result.passed
    assert sorted(f.scenario_id for f in result.improved) == sorted(
        [MISSED_ID, FALSE_POSITIVE_ID, SKIPPED_ID, "docker.resources.cpu-miner"]
    )
    assert [f.scenario_id for f in result.new_scenarios] == ["docker.network.dns-hijack"]
    assert "Improvements" in result.to_markdown() and "PASS" in result.to_markdown()


def _without_skip(run: RunResult) -> RunResult:
    run.outcomes = [o for o in run.outcomes if o.verdict is not Verdict.SKIPPED]
    return run


def test_missed_in_both_does_not_fail() -> None:
    # The same miss and the same false positive in both runs: the run fails, the gate does not.
    assert compare(_scorecard(_without_skip(make_run())), _scorecard(_without_skip(make_run()))).passed


def test_different_backends_are_refused() -> None:
    current = _scorecard()
    current["backend"] = "swarm"
    for row in current["outcomes"]:
        row["backend"] = "swarm"
    with pytest.raises(GateInputError, match="backend"):
        compare(current, _scorecard())


def test_broken_scorecard_names_the_field() -> None:
    current = _scorecard()
    current["outcomes"][4]["verdict"] = "sort-of"
    with pytest.raises(ScorecardFormatError) as info:
        compare(current, _scorecard())
    assert info.value.field == "outcomes[4].verdict"


# --- update_baseline and the command line ---------------------------------------------------


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_update_baseline_records_when_and_from_which_run(tmp_path: Path) -> None:
    old = write_json(clean_run("run-old"), tmp_path / "baseline.json")
    current = write_json(clean_run("run-new"), tmp_path / "scorecard.json")
    update_baseline(current, old)
    data = json.loads(old.read_text())
    assert data["run_id"] == "run-new"
    header = data["baseline"]
    assert header["from_run_id"] == "run-new" and header["replaces_run_id"] == "run-old"
    assert header["updated_at"].endswith("Z") and header["source"] == str(current)
    from_json(data)  # still a readable scorecard


def test_update_baseline_refuses_an_aborted_run(tmp_path: Path) -> None:
    current = write_json(make_run(status="aborted"), tmp_path / "scorecard.json")
    with pytest.raises(GateInputError, match="aborted"):
        update_baseline(current, tmp_path / "baseline.json")
    assert not (tmp_path / "baseline.json").exists()


def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = write_json(clean_run(), tmp_path / "baseline.json")
    good = write_json(clean_run("run-2"), tmp_path / "good.json")
    bad = write_json(make_run("run-3"), tmp_path / "bad.json")
    assert main(["--baseline", str(baseline), "--current", str(good)]) == 0
    assert main(["--baseline", str(baseline), "--current", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and MISSED_ID in out and FALSE_POSITIVE_ID in out


def test_main_bad_input_names_file_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = write_json(clean_run(), tmp_path / "baseline.json")
    broken = _scorecard()
    broken["outcomes"][2].pop("scenario_id")
    current = _write(tmp_path / "broken.json", broken)
    assert main(["--baseline", str(baseline), "--current", str(current)]) == 2
    err = capsys.readouterr().err
    assert str(current) in err and "outcomes[2].scenario_id" in err

    assert main(["--baseline", str(tmp_path / "nope.json"), "--current", str(baseline)]) == 2
    assert "nope.json" in capsys.readouterr().err

    (tmp_path / "garbage.json").write_text("{not json")
    assert main(["--baseline", str(baseline), "--current", str(tmp_path / "garbage.json")]) == 2
    assert "garbage.json" in capsys.readouterr().err


def test_main_update_creates_baseline(tmp_path: Path) -> None:
    current = write_json(_without_skip(make_run()), tmp_path / "scorecard.json")
    baseline = tmp_path / "baselines" / "docker.json"
    assert main(["--baseline", str(baseline), "--current", str(current), "--update"]) == 0
    assert json.loads(baseline.read_text())["baseline"]["from_run_id"] == make_run().run_id
    # Once accepted, the same run passes the gate against itself.
    assert main(["--baseline", str(baseline), "--current", str(current)]) == 0


def test_known_missed_scenario_stays_visible_in_baseline() -> None:
    data = _scorecard(make_run())
    assert _outcome(data, MISSED_ID)["verdict"] == Verdict.MISSED.value
    assert _outcome(data, SKIPPED_ID)["verdict"] == Verdict.SKIPPED.value


# --- twins losing their silent verdict, skips, unlisted collateral, the soak ---------------------

TWIN = "docker.masquerade.real-nginx"  # silent in both fixture runs


@pytest.mark.parametrize("now", ["error", "skipped"])
def test_twin_silent_in_baseline_now_error_or_skipped_fails(now: str) -> None:
    current = _scorecard()
    _outcome(current, TWIN).update(verdict=now, reason="the lab could not start nginx")
    result = compare(current, _scorecard())
    assert not result.passed
    assert [f.scenario_id for f in result.lost_silent] == [TWIN]
    assert f"silent in the baseline, now {now}: the lab could not start nginx" in result.lost_silent[0].detail
    assert result.skipped == []  # counted once, as the twin it is
    assert "Twins no longer silent (fail)" in result.to_markdown()


def test_twin_silent_in_baseline_now_absent_fails() -> None:
    current = _scorecard()
    current["outcomes"] = [o for o in current["outcomes"] if o["scenario_id"] != TWIN]
    result = compare(current, _scorecard())
    assert [f.scenario_id for f in result.lost_silent] == [TWIN] and "absent" in result.lost_silent[0].detail


def test_twin_silent_in_baseline_now_false_positive_fails_as_a_new_false_positive() -> None:
    current = _scorecard()
    _outcome(current, TWIN).update(verdict="false_positive", alerts=[{
        "rule_id": "stowaway.exec.binary-from-tmp", "title": "t", "severity": "high", "techniques": [],
        "object": "container:x"}], reason="alerted: stowaway.exec.binary-from-tmp")
    result = compare(current, _scorecard())
    assert [f.scenario_id for f in result.new_false_positives] == [TWIN] and result.lost_silent == []
    assert not result.passed


def test_a_skip_fails_the_gate_even_when_the_baseline_skipped_too() -> None:
    result = compare(_scorecard(make_run()), _scorecard(make_run()))
    assert not result.passed
    assert [f.scenario_id for f in result.skipped] == [SKIPPED_ID]
    assert "skipped in the baseline, now skipped: the engine refuses --pid=host" in result.skipped[0].detail
    assert result.failures == result.skipped  # nothing else failed


def test_a_new_scenario_that_skips_fails() -> None:
    current = _scorecard()
    extra = dict(_outcome(current, "docker.resources.cpu-miner"))
    extra.update(scenario_id="docker.network.dns-hijack", verdict="skipped", reason="no resolver here",
                 latency_s=None)
    current["outcomes"].append(extra)
    result = compare(current, _scorecard())
    assert [f.scenario_id for f in result.skipped] == ["docker.network.dns-hijack"]
    assert result.new_scenarios == []


def _with_collateral(data: dict[str, Any], scenario_id: str, rule_id: str, allowed: bool) -> dict[str, Any]:
    row = _outcome(data, scenario_id)
    row["collateral"] = [*row.get("collateral", []), {"rule_id": rule_id, "object": row["objects"][0],
                                                      "allowed": allowed, "reason": "why" if allowed else ""}]
    return data


def test_new_unlisted_collateral_fails_naming_rule_and_scenario() -> None:
    current = _with_collateral(_scorecard(), UNLISTED_ID, UNLISTED_RULE, allowed=False)
    result = compare(current, _scorecard())
    assert not result.passed
    assert [f.scenario_id for f in result.new_collateral] == [UNLISTED_ID]
    assert UNLISTED_RULE in result.new_collateral[0].detail and "may_fire" in result.new_collateral[0].detail
    assert "New unlisted collateral (fail)" in result.to_markdown()


def test_known_unlisted_collateral_does_not_fail_the_gate_but_a_second_rule_does() -> None:
    baseline = _with_collateral(_scorecard(), UNLISTED_ID, UNLISTED_RULE, allowed=False)
    current = _with_collateral(_scorecard(), UNLISTED_ID, UNLISTED_RULE, allowed=False)
    assert compare(current, baseline).passed  # the run itself still fails on it; the gate judges change
    current = _with_collateral(current, UNLISTED_ID, "stowaway.net.egress-not-allowlisted", allowed=False)
    result = compare(current, baseline)
    assert result.new_collateral[0].detail.startswith("stowaway.net.egress-not-allowlisted now alerts")


def test_allowed_collateral_never_fails_but_losing_its_allowance_does() -> None:
    baseline = _with_collateral(_scorecard(), UNLISTED_ID, UNLISTED_RULE, allowed=True)
    assert compare(_with_collateral(_scorecard(), UNLISTED_ID, UNLISTED_RULE, allowed=True), baseline).passed
    assert compare(_scorecard(), _with_collateral(_scorecard(), UNLISTED_ID, UNLISTED_RULE, allowed=False)).passed
    result = compare(_with_collateral(_scorecard(), UNLISTED_ID, UNLISTED_RULE, allowed=False), baseline)
    assert [f.scenario_id for f in result.new_collateral] == [UNLISTED_ID]


def test_soak_false_positive_fails_whatever_the_baseline_says() -> None:
    run = clean_run()
    run.soak = soak(alerts=2)
    result = compare(_scorecard(run), _scorecard(run))
    assert not result.passed
    assert [f.scenario_id for f in result.soak_false_positives] == ["soak", "soak"]
    assert SOAK_RULES[0] in result.soak_false_positives[0].detail
    assert "Soak false positives (fail)" in result.to_markdown()


def test_quiet_soak_passes_and_a_missing_one_is_noted() -> None:
    quiet = clean_run()
    quiet.soak = soak(alerts=0)
    assert compare(_scorecard(quiet), _scorecard(quiet)).passed
    result = compare(_scorecard(), _scorecard(quiet))
    assert result.passed and "the baseline ran a soak; this run did not" in result.notes


def test_committed_1_0_baseline_passes_against_itself() -> None:
    """Its unexpected alerts read as unlisted collateral on both sides: known, not new."""
    data = json.loads(BASELINE.read_text())
    result = compare(data, data)
    assert result.passed, result.to_markdown()


def test_allowed_collateral_against_the_1_0_baseline_is_not_new() -> None:
    data = json.loads(BASELINE.read_text())
    current = json.loads(BASELINE.read_text())
    row = _outcome(current, "docker.logging.log-driver-none")
    row["collateral"] = [{"rule_id": a["rule_id"], "object": a["object"], "allowed": True, "reason": "why."}
                         for a in row["alerts"] if a["rule_id"] != "stowaway.docker.logging-disabled"]
    assert row["collateral"]
    assert compare(current, data).passed


def _with_variant(run: RunResult, verdict: Verdict, requested: Any = 3, seed: int = 1) -> dict[str, Any]:
    """A run that drew one variant of the cpu-miner row (a copy of its canonical row)."""
    import dataclasses

    canonical = next(o for o in run.outcomes if o.scenario_id == "docker.resources.cpu-miner")
    variant = dataclasses.replace(canonical, scenario_id="docker.resources.cpu-miner@tool=b2sum",
                                  variant_of=canonical.scenario_id, variant={"grinders": 2, "tool": "b2sum"},
                                  verdict=verdict, latency_s=canonical.latency_s if verdict is Verdict.DETECTED
                                  else None, reason="variant")
    run.outcomes.append(variant)
    run.environment["variants"] = {"requested": requested, "seed": seed}
    return to_json(run)


def test_a_lost_variant_detection_fails_the_gate_like_a_lost_detection() -> None:
    baseline = _with_variant(clean_run(), Verdict.DETECTED)
    current = _with_variant(clean_run(), Verdict.MISSED)
    result = compare(current, baseline)
    assert not result.passed
    assert [f.scenario_id for f in result.lost] == ["docker.resources.cpu-miner@tool=b2sum"]


def test_a_variant_the_same_draw_did_not_run_is_lost_but_another_draw_is_only_noted() -> None:
    baseline = _with_variant(clean_run(), Verdict.DETECTED)
    same_draw = _scorecard()
    same_draw["environment"]["variants"] = {"requested": 3, "seed": 1}
    assert [f.scenario_id for f in compare(same_draw, baseline).lost] == ["docker.resources.cpu-miner@tool=b2sum"]
    for other in ({"requested": 3, "seed": 2}, {"requested": 0, "seed": 1}):
        current = _scorecard()
        current["environment"]["variants"] = other
        result = compare(current, baseline)
        assert result.passed, result.to_markdown()
        assert any("variant row(s) of the baseline were not compared" in note for note in result.notes)
