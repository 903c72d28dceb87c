"""The Navigator layer scored by robustness (canonical and variant runs), the coverage layer left to
canonical runs, and the robustness layer written only for a run with variants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scorecard_fixtures import make_run
from test_scorecard_navigator import validate_layer_45

from harness.outcome import Outcome, RuleResult, RunResult, Verdict
from harness.scorecard import FILENAMES, VARIANT_FILENAMES, to_json, to_markdown, write_all
from harness.scorecard.navigator import to_layer

SCENARIO = "docker.logging.stdout-devnull"
TECHNIQUE = "T1562.006"  # only this family exercises it
RULE = "stowaway.docker.output-discarded"


def outcome(scenario_id: str, verdict: Verdict, kind: str = "adversary", techniques: tuple[str, ...] = (TECHNIQUE,),
            ) -> Outcome:
    base = scenario_id.split("@", 1)[0]
    return Outcome(scenario_id=scenario_id, title="t", kind=kind, techniques=list(techniques), backend="docker",
                   verdict=verdict, reason="r", rules=[RuleResult(RULE, verdict is Verdict.DETECTED)],
                   variant_of=base if "@" in scenario_id else None, variant={"target": scenario_id[-4:]})


def run_with(*extra: Outcome) -> RunResult:
    run = make_run()
    run.outcomes += list(extra)
    return run


CANONICAL = outcome(SCENARIO, Verdict.DETECTED)
# Three concluded variants, two detected; an error and a skip say nothing.
VARIANTS = (
    outcome(f"{SCENARIO}@how=python", Verdict.DETECTED),
    outcome(f"{SCENARIO}@when=late", Verdict.DETECTED),
    outcome(f"{SCENARIO}@target=file", Verdict.MISSED),
    outcome(f"{SCENARIO}@target=closed", Verdict.ERROR),
    outcome(f"{SCENARIO}@target=pipe", Verdict.SKIPPED),
)


def by_id(layer: dict) -> dict[str, dict]:
    return {t["techniqueID"]: t for t in layer["techniques"]}


def test_robustness_scores_canonical_and_variant_runs_coverage_only_canonical() -> None:
    run = run_with(CANONICAL, *VARIANTS)
    robust = by_id(to_layer(run, score="robustness"))[TECHNIQUE]
    covered = by_id(to_layer(run, score="coverage"))[TECHNIQUE]
    assert robust["score"] == 75  # 3 of 4 concluded adversary runs: the canonical one and two of three variants
    assert covered["score"] == 100  # the canonical run passed
    assert robust["comment"].splitlines()[0] == \
        "robustness 3/4 adversary runs (canonical and variants) detected"
    assert f"{SCENARIO}@target=file [adversary]: missed" in robust["comment"]
    assert f"{SCENARIO}@target=file" not in covered["comment"]
    metadata = {m["name"]: m["value"] for m in robust["metadata"]}
    assert metadata == {"scenarios": "1", "variants": "5", "robustness": "75% (3/4)", "coverage": "100%"}


def test_a_technique_without_variants_scores_the_same_either_way() -> None:
    run = run_with(CANONICAL, *VARIANTS)
    robust, covered = by_id(to_layer(run, "robustness")), by_id(to_layer(run))
    assert robust["T1036.005"]["score"] == covered["T1036.005"]["score"] == 50


def test_benign_variants_and_unconcluded_runs_leave_a_technique_unscored() -> None:
    twin = outcome("docker.logging.foreground-web@port=9090", Verdict.SILENT, kind="benign", techniques=("T1070",))
    broken = outcome("docker.x.y@a=b", Verdict.ERROR, techniques=("T1059",))
    layer = by_id(to_layer(run_with(twin, broken), "robustness"))
    assert "score" not in layer["T1070"] and "score" not in layer["T1059"]
    assert layer["T1059"]["comment"].startswith("robustness not tested")


def test_the_layer_says_which_score_it_uses_and_stays_valid() -> None:
    run = run_with(CANONICAL, *VARIANTS)
    robust, covered = to_layer(run, "robustness"), to_layer(run)
    assert validate_layer_45(robust) == [] and json.loads(json.dumps(robust)) == robust
    assert robust["name"].startswith("Stowaway robustness ") and covered["name"].startswith("Stowaway coverage ")
    assert "canonical and variants" in robust["description"]
    assert "canonical and variants" in robust["legendItems"][0]["label"]
    with pytest.raises(ValueError, match="robustness"):
        to_layer(run, "precision")  # type: ignore[arg-type]


def test_variant_rows_do_not_leak_into_coverage() -> None:
    plain = run_with(CANONICAL)
    drawn = run_with(CANONICAL, *VARIANTS)
    assert to_layer(drawn) == to_layer(plain)
    assert to_json(drawn)["techniques"] == to_json(plain)["techniques"]
    (row,) = [line for line in to_markdown(drawn).splitlines() if line.startswith(f"| {TECHNIQUE} |")]
    assert row == f"| {TECHNIQUE} | 100% | 1/1 | 0 | 0/0 | 0 | {SCENARIO} |"


def test_write_all_adds_the_robustness_layer_only_with_variants(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    written = write_all(run_with(CANONICAL, *VARIANTS), out)
    assert set(written) == set(FILENAMES) | set(VARIANT_FILENAMES)
    layer = json.loads((out / "navigator-layer-robustness.json").read_text())
    assert by_id(layer)[TECHNIQUE]["score"] == 75
    assert by_id(json.loads((out / FILENAMES["navigator"]).read_text()))[TECHNIQUE]["score"] == 100

    # A run without variants into the same directory: exactly FILENAMES, the earlier layer gone.
    written = write_all(make_run(), out)
    assert set(written) == set(FILENAMES)
    assert {p.name for p in out.iterdir()} == set(FILENAMES.values())
