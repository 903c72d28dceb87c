"""The robustness gate: the ratio and its threshold, misses named by blind spots, false positives and
errors failing it, bad input, and the figures file README's robustness block is rendered from."""

from __future__ import annotations

import json

import pytest

from harness import robustness_gate
from harness.blind_spots import mentions
from harness.outcome import Collateral, Outcome, RuleResult, RunResult, Verdict
from harness.readme import robustness_figures
from harness.robustness_gate import Robustness, judge, main
from harness.scorecard import write_json

RULE = "stowaway.docker.output-discarded"
SCENARIO = "docker.logging.stdout-devnull"
TWIN = "docker.logging.foreground-web"
CANONICAL_VALUES = {"target": "devnull", "when": "now"}
# What a rule's documented blind spot looks like; the shipped rule text is not read by these tests.
VOLUME_GAP = (f"Output written to a file on a volume is not flagged: the variants of {SCENARIO} with "
              "target=volume are missed.")
BLINDSPOTS = {RULE: (VOLUME_GAP,)}


def outcome(values: dict | None = None, verdict: Verdict = Verdict.DETECTED, kind: str = "adversary",
            scenario: str = SCENARIO, collateral: list[Collateral] | None = None) -> Outcome:
    """A row of SCENARIO (or a twin): canonical with no ``values``, else the variant with those values changed."""
    variant = {**CANONICAL_VALUES, **(values or {})}
    label = ",".join(f"{k}={v}" for k, v in variant.items() if CANONICAL_VALUES[k] != v)
    fired = None if verdict in (Verdict.ERROR, Verdict.SKIPPED) or kind == "benign" else verdict is Verdict.DETECTED
    return Outcome(scenario_id=f"{scenario}@{label}" if label else scenario, title="t", kind=kind,
                   techniques=["T1562.006"], backend="docker", verdict=verdict, reason="r",
                   rules=[] if fired is None else [RuleResult(RULE, fired)],
                   alerts=[{"rule_id": RULE}] if verdict is Verdict.FALSE_POSITIVE else [],
                   variant_of=scenario if label else None, variant=variant, collateral=collateral or [])


def run(*outcomes: Outcome, variants: dict | None = None) -> RunResult:
    drawn = {"requested": "all", "seed": 1} if variants is None else variants
    return RunResult(run_id="r1", attack_version="18", backend="docker", started_at=0.0, finished_at=1.0,
                     outcomes=list(outcomes), environment={"variants": drawn})


def detected(n: int) -> list[Outcome]:
    """N detected variants, each with its own value of a ``when`` dimension."""
    return [outcome({"when": f"t{i}"}) for i in range(n)]


VOLUME_MISS = outcome({"target": "volume", "when": "later"}, Verdict.MISSED)


# --- the ratio and the threshold ---------------------------------------------------------------------------


def test_robustness_counts_canonical_and_variant_rows_and_exactly_the_threshold_passes():
    result = judge(run(outcome(), *detected(8), VOLUME_MISS), BLINDSPOTS, 0.9)
    assert (result.adversary_passed, result.adversary_runs) == (9, 10)
    assert result.robustness == 0.9 and result.meets_threshold and result.passed
    assert "adversary robustness 9/10 (90.0%), at least 90% required: met" in result.to_markdown()


def test_below_the_threshold_fails_even_when_every_miss_is_named():
    second = outcome({"target": "volume", "when": "now"}, Verdict.MISSED)
    result = judge(run(outcome(), *detected(7), VOLUME_MISS, second), BLINDSPOTS, 0.9)
    assert (result.adversary_passed, result.adversary_runs) == (8, 10)
    assert all(m.named for m in result.misses) and not result.problems
    assert not result.passed and "NOT met" in result.to_markdown()


@pytest.mark.parametrize(("passed", "runs", "meets"), [(63, 70, True), (62, 70, False), (9, 10, True),
                                                         (899, 1000, False), (0, 0, False)])
def test_the_threshold_is_compared_exactly_not_in_floating_point(passed, runs, meets):
    # 0.9 * 70 is 63.00000000000001 in floating point: 63/70 would wrongly fall short of 90%.
    result = Robustness("r", "docker", 0.0, "all", 1, 0.9, adversary_runs=runs, adversary_passed=passed)
    assert result.meets_threshold is meets


def test_a_share_is_rounded_down_so_it_never_reads_better_than_measured():
    assert robustness_gate.share(8996, 10000) == "8996/10000 (89.9%)"
    assert robustness_gate.share(9, 10) == "9/10 (90.0%)"


# --- misses: named or not -----------------------------------------------------------------------------


def test_a_miss_named_by_a_blind_spot_with_the_scenario_and_one_of_its_values_passes():
    result = judge(run(outcome(), *detected(9), VOLUME_MISS), BLINDSPOTS)
    (miss,) = result.misses
    assert miss.row == f"{SCENARIO}@target=volume,when=later" and miss.rules == (RULE,)
    assert miss.named and miss.blind_spot == VOLUME_GAP and miss.blind_spot_of == RULE
    assert result.passed and "### Misses named by a blind spot" in result.to_markdown()


def test_a_miss_no_blind_spot_names_fails_whatever_the_ratio():
    unnamed = outcome({"target": "file"}, Verdict.MISSED)
    result = judge(run(outcome(), *detected(20), unnamed), BLINDSPOTS)
    assert result.meets_threshold and not result.passed
    (problem,) = result.problems
    assert (problem.row, problem.kind) == (unnamed.scenario_id, "unnamed miss")
    assert "target=file" in problem.reason and RULE in problem.reason
    assert f"`{unnamed.scenario_id}` (unnamed miss)" in result.to_markdown()


def test_naming_the_scenario_alone_does_not_name_a_variant_but_does_name_its_canonical_row():
    scenario_only = {RULE: (f"{SCENARIO} is not seen when the pipe is held by another process.",)}
    assert not judge(run(outcome(), VOLUME_MISS), scenario_only).misses[0].named
    canonical_miss = judge(run(outcome(verdict=Verdict.MISSED), *detected(9)), scenario_only)
    assert canonical_miss.misses[0].named and canonical_miss.passed


def test_a_blind_spot_names_a_value_as_a_whole_word():
    assert mentions("the variants with port=80 are missed.", "port=80")
    assert not mentions("the variants with port=8080 are missed", "port=80")
    assert not mentions(f"{SCENARIO}-tmpfs is not seen", SCENARIO)
    assert mentions(f"(`{SCENARIO}@target=volume`)", "target=volume")


def test_a_blind_spot_of_another_rule_names_nothing():
    assert not judge(run(outcome(), VOLUME_MISS), {"stowaway.other": (VOLUME_GAP,)}).misses[0].named


# --- false positives, errors, skips ----------------------------------------------------------------------


def test_a_benign_variant_raising_an_alert_fails():
    twins = [outcome(kind="benign", verdict=Verdict.SILENT, scenario=TWIN),
             outcome({"when": "later"}, Verdict.SILENT, "benign", TWIN),
             outcome({"when": "never"}, Verdict.FALSE_POSITIVE, "benign", TWIN)]
    result = judge(run(outcome(), *detected(9), *twins), BLINDSPOTS)
    assert (result.benign_silent, result.benign_runs) == (2, 3) and result.meets_threshold
    (problem,) = result.problems
    assert (problem.row, problem.kind) == (f"{TWIN}@when=never", "false positive") and RULE in problem.reason
    assert not result.passed and "silent 2/3" in result.to_markdown()


def test_unlisted_collateral_on_an_adversary_is_a_false_positive_no_blind_spot_excuses():
    noisy = outcome({"target": "volume"}, collateral=[Collateral("stowaway.x", "container:1", False)])
    result = judge(run(outcome(), *detected(20), noisy), {"stowaway.x": (VOLUME_GAP,), **BLINDSPOTS})
    assert (result.adversary_passed, result.adversary_runs) == (21, 22)
    assert not result.misses and [p.kind for p in result.problems] == ["false positive"]
    assert "stowaway.x" in result.problems[0].reason and not result.passed


def test_an_error_or_a_skip_fails_and_stays_out_of_the_ratio():
    broken = outcome({"target": "file"}, Verdict.ERROR)
    skipped = outcome({"target": "tmpfs"}, Verdict.SKIPPED)
    result = judge(run(outcome(), *detected(9), broken, skipped), BLINDSPOTS)
    assert (result.adversary_passed, result.adversary_runs) == (10, 10)
    assert [(p.row, p.kind) for p in result.problems] == [(broken.scenario_id, "error"),
                                                          (skipped.scenario_id, "skipped")]
    assert not result.passed


def test_rows_of_scenarios_without_variants_are_not_judged():
    plain = outcome(verdict=Verdict.MISSED, scenario="docker.escape.docker-socket")
    result = judge(run(outcome(), *detected(9), plain), BLINDSPOTS)
    assert result.adversary_runs == 10 and result.passed
    assert [f.scenario_id for f in result.families] == [SCENARIO]


# --- the command: bad input, the figures file, README ------------------------------------------------------


@pytest.fixture
def shipped_blindspots(monkeypatch):
    """The command reads the rules' blind spots; these tests give it the ones above instead."""
    monkeypatch.setattr(robustness_gate, "blindspots_of", lambda _dirs: BLINDSPOTS)


def test_a_run_without_variants_is_bad_input(shipped_blindspots, tmp_path, capsys):
    path = write_json(run(outcome(), variants={"requested": 0, "seed": 1}), tmp_path / "scorecard.json")
    assert main(["--scorecard", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "environment.variants.requested" in err and "--variants" in err

    drawn_none = write_json(run(outcome()), tmp_path / "plain.json")  # asked for variants, none declared
    assert main(["--scorecard", str(drawn_none)]) == 2
    assert "--varied-only" in capsys.readouterr().err


def test_a_missing_or_broken_scorecard_and_a_bad_min_are_bad_input(shipped_blindspots, tmp_path, capsys):
    assert main(["--scorecard", str(tmp_path / "nope.json")]) == 2
    assert "nope.json: file not found" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": "1.2"}')
    assert main(["--scorecard", str(broken)]) == 2
    assert "broken.json: field outcomes" in capsys.readouterr().err
    good = write_json(run(outcome(), *detected(9)), tmp_path / "scorecard.json")
    assert main(["--scorecard", str(good), "--min", "90"]) == 2
    assert "--min" in capsys.readouterr().err


def test_written_figures_round_trip_and_render_the_readme_block(shipped_blindspots, tmp_path, capsys):
    twin = outcome({"when": "later"}, Verdict.SILENT, "benign", TWIN)
    path = write_json(run(outcome(), *detected(8), VOLUME_MISS, twin), tmp_path / "variants" / "scorecard.json")
    figures, summary = tmp_path / "robustness.json", tmp_path / "robustness.md"
    argv = ["--scorecard", str(path), "--summary", str(summary), "--write", str(figures)]
    assert main(argv) == 0
    assert "## Variant robustness: **PASS**" in capsys.readouterr().out
    assert "## Variant robustness: **PASS**" in summary.read_text()

    data = json.loads(figures.read_text())
    assert data == judge(run(outcome(), *detected(8), VOLUME_MISS, twin), BLINDSPOTS).to_dict()
    assert {"schema_version", "run_id", "started_at", "seed", "requested", "threshold", "adversary", "benign",
            "families", "detectors", "misses", "problems", "passed"} <= set(data)
    assert data["started_at"] == "1970-01-01T00:00:00.000Z" and (data["seed"], data["requested"]) == (1, "all")
    assert data["adversary"] == {"runs": 10, "passed": 9, "robustness": 0.9}
    assert data["benign"] == {"runs": 1, "silent": 1}
    (rule,) = data["detectors"]
    assert (rule["rule_id"], rule["fired"], rule["expected"]) == (RULE, 9, 10)
    assert rule["missed_values"]["target"] == {"volume": [0, 1]}
    assert data["misses"] == [{"row": VOLUME_MISS.scenario_id, "rules": [RULE], "named": True,
                               "blind_spot": VOLUME_GAP, "blind_spot_of": RULE}]
    assert data["problems"] == [] and data["passed"] is True
    assert not list(tmp_path.glob(".robustness.json.*"))  # written through a temp file, renamed

    text = robustness_figures(figures)
    assert "run `r1`, 1970-01-01, every variant with seed 1" in text and "9/10 (90.0%)" in text
    assert "silent 1/1" in text and "PASS (at least 90% required" in text
    assert f"| `{RULE}` | 9/10 | target: volume 0/1" in text
    assert "nox -s variants" in robustness_figures(tmp_path / "absent.json")
    assert "|" not in robustness_figures(tmp_path / "absent.json")


def test_a_failing_run_exits_1_and_says_why(shipped_blindspots, tmp_path, capsys):
    path = write_json(run(outcome(), *detected(9), outcome({"target": "file"}, Verdict.MISSED)),
                      tmp_path / "scorecard.json")
    assert main(["--scorecard", str(path)]) == 1
    out = capsys.readouterr().out
    assert "**FAIL**" in out and "### Problems (fail)" in out and "(unnamed miss)" in out
