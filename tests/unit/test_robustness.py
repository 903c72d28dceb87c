"""Robustness over variants: what counts, per scenario and per detector, and what the scorecard says."""

from __future__ import annotations

from harness.outcome import Collateral, Outcome, RuleResult, RunResult, Verdict
from harness.scorecard.markdown import to_markdown
from harness.scorecard.robustness import detectors, families

RULE = "stowaway.docker.output-discarded"


def outcome(scenario_id: str, verdict: Verdict, fired: bool | None = None, variant: dict | None = None,
            kind: str = "adversary", collateral: list[Collateral] | None = None) -> Outcome:
    base = scenario_id.split("@", 1)[0]
    return Outcome(scenario_id=scenario_id, title="t", kind=kind, techniques=["T1562.006"], backend="docker",
                   verdict=verdict, reason="r", rules=[] if fired is None else [RuleResult(RULE, fired)],
                   variant_of=base if "@" in scenario_id else None, variant=variant or {},
                   collateral=collateral or [])


def run(*outcomes: Outcome) -> RunResult:
    return RunResult(run_id="r", attack_version="18", backend="docker", started_at=0.0, finished_at=1.0,
                     outcomes=list(outcomes), environment={"variants": {"requested": 3, "seed": 1}})


SCENARIO = "docker.logging.stdout-devnull"
CANONICAL = outcome(SCENARIO, Verdict.DETECTED, True, {"target": "devnull", "how": "shell"})
FILE = outcome(f"{SCENARIO}@target=file", Verdict.MISSED, False, {"target": "file", "how": "shell"})
PYTHON = outcome(f"{SCENARIO}@how=python", Verdict.DETECTED, True, {"target": "devnull", "how": "python"})
CLOSED = outcome(f"{SCENARIO}@target=closed,how=python", Verdict.MISSED, False, {"target": "closed", "how": "python"})
BROKEN = outcome(f"{SCENARIO}@target=file,how=python", Verdict.ERROR, None, {"target": "file", "how": "python"})
NOISY = outcome(f"{SCENARIO}@target=devnull,how=x", Verdict.DETECTED, True, {"target": "devnull", "how": "x"},
                collateral=[Collateral("stowaway.x", "container:1", False, "")])


def test_a_family_counts_concluded_variants_and_names_the_failed_ones():
    (family,) = families(run(CANONICAL, FILE, PYTHON, CLOSED, BROKEN, NOISY))
    assert family.canonical_passed is True
    assert (family.variants_passed, family.variants_run) == (1, 4)  # the error is not counted; noisy fails
    assert family.failed == [FILE.scenario_id, CLOSED.scenario_id, NOISY.scenario_id]
    assert family.errors == [BROKEN.scenario_id]
    assert family.ratio == 0.25


def test_a_detector_names_the_dimension_values_of_the_variants_it_missed():
    (rule,) = detectors(run(CANONICAL, FILE, PYTHON, CLOSED, BROKEN))
    assert (rule.fired, rule.expected) == (1, 3)  # the canonical run is not a variant; the error concluded nothing
    assert rule.missed_values == {"target": {"file": (0, 1), "closed": (0, 1)},
                                  "how": {"shell": (0, 1), "python": (1, 2)}}


def test_benign_variants_pass_by_staying_silent():
    twin = "docker.logging.foreground-web"
    rows = families(run(outcome(f"{twin}@port=8080", Verdict.SILENT, kind="benign", variant={"port": 8080}),
                        outcome(f"{twin}@port=9090", Verdict.FALSE_POSITIVE, kind="benign", variant={"port": 9090})))
    assert [(r.variants_passed, r.variants_run) for r in rows] == [(1, 2)]


def test_the_scorecard_has_a_robustness_section_only_when_variants_ran():
    assert "Robustness over variants" not in to_markdown(run(CANONICAL))
    text = to_markdown(run(CANONICAL, FILE, PYTHON))
    assert "### Robustness over variants" in text and "| 1/2 |" in text and "`target=file`" in text
    assert "target: file 0/1" in text  # the detector's missed values


def test_with_canonical_a_detector_also_counts_the_canonical_row_of_each_family():
    lone = outcome("docker.logging.log-driver-none", Verdict.DETECTED, True)  # no variants here: not a family
    (rule,) = detectors(run(CANONICAL, FILE, PYTHON, CLOSED, BROKEN, lone), with_canonical=True)
    assert (rule.fired, rule.expected) == (2, 4)
    assert rule.missed_values["target"] == {"file": (0, 1), "closed": (0, 1)}
    assert rule.by_value[("target", "devnull")] == [2, 2]  # the canonical row's values count too


def test_a_variant_missed_on_a_named_blind_spot_is_a_known_gap_not_a_failure_of_the_run() -> None:
    from harness.runner import _note_known_blind_spot
    from harness.scorecard.json_report import from_json, to_json
    from harness.scorecard.junit import to_junit_xml

    named = {RULE: ("Missed: the variants of docker.logging.stdout-devnull with target=file.",)}
    missed = outcome(f"{SCENARIO}@target=file", Verdict.MISSED, False, {"target": "file", "how": "shell"})
    _note_known_blind_spot(missed, named)
    assert missed.known_blind_spot and missed.known_blind_spot.startswith(RULE)
    other = outcome(f"{SCENARIO}@target=closed,how=python", Verdict.MISSED, False,
                    {"target": "closed", "how": "python"})
    _note_known_blind_spot(other, named)  # the blind spot names target=file only
    assert other.known_blind_spot is None
    canonical_miss = outcome(SCENARIO, Verdict.MISSED, False, {"target": "devnull", "how": "shell"})
    _note_known_blind_spot(canonical_miss, named)  # a canonical miss is never excused
    assert canonical_miss.known_blind_spot is None

    result = run(CANONICAL, missed)
    assert result.passed and not missed.passed  # still missed, counted so by robustness
    assert families(result)[0].variants_passed == 0
    assert not run(CANONICAL, missed, other).passed
    back = from_json(to_json(result))
    assert back.outcomes[1].known_blind_spot == missed.known_blind_spot
    xml = to_junit_xml(result)
    assert 'message="xfail: known blind spot: ' in xml and "<failure" not in xml
