"""The JSON scorecard: published shape (JSON Schema), derived figures, and the round trip."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from scorecard_fixtures import (
    ALLOWED_ID,
    ALLOWED_REASON,
    ALLOWED_RULE,
    ATTACK_VERSION,
    FALSE_POSITIVE_ID,
    FALSE_POSITIVE_RULE,
    UNLISTED_ID,
    UNLISTED_RULE,
    clean_run,
    judged_run,
    make_run,
)

from harness.outcome import Collateral, Verdict
from harness.scorecard import write_all
from harness.scorecard.figures import percentile, rule_precision
from harness.scorecard.json_report import (
    SCHEMA_PATH,
    SCHEMA_VERSION,
    ScorecardFormatError,
    from_json,
    load_json,
    to_json,
    write_json,
)

# A scorecard a real 48-scenario run wrote in schema 1.0 (the committed baseline before 1.1), kept so
# that readers of old files stay tested after the live baseline moved on.
BASELINE_1_0 = Path(__file__).resolve().parents[1] / "fixtures" / "scorecards" / "baseline-1.0.json"
BASELINE = Path(__file__).resolve().parents[2] / "harness" / "baseline" / "scorecard.json"


@pytest.fixture(scope="module")
def schema() -> dict:
    data = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(data)
    return data


def test_rendered_scorecard_validates_against_published_schema(schema: dict) -> None:
    jsonschema.Draft202012Validator(schema).validate(to_json(make_run()))


def test_judged_run_with_soak_validates(schema: dict) -> None:
    data = to_json(judged_run())
    assert data["schema_version"] == SCHEMA_VERSION == "1.4"
    jsonschema.Draft202012Validator(schema).validate(data)


def test_schema_requires_the_new_fields_from_1_1_on(schema: dict) -> None:
    data = to_json(judged_run())
    del data["rule_precision"]
    with pytest.raises(jsonschema.ValidationError, match="rule_precision"):
        jsonschema.Draft202012Validator(schema).validate(data)
    data = to_json(judged_run())
    del data["outcomes"][0]["collateral"]
    with pytest.raises(jsonschema.ValidationError, match="collateral"):
        jsonschema.Draft202012Validator(schema).validate(data)


def test_committed_1_0_baseline_still_validates_and_reads(schema: dict) -> None:
    data = json.loads(BASELINE_1_0.read_text())
    assert data["schema_version"] == "1.0" and "rule_precision" not in data
    jsonschema.Draft202012Validator(schema).validate(data)
    run = from_json(data)
    assert run.soak is None
    # A 1.0 file did not judge alerts from unexpected rules; before may_fire nothing was listed, so
    # each is unlisted collateral (the gate then tells a known one from a new one).
    spec_drift = next(o for o in run.outcomes if o.scenario_id == "swarm.tamper.service-spec-drift")
    assert spec_drift.verdict is Verdict.DETECTED and not spec_drift.passed
    expected = {r.rule_id for r in spec_drift.rules}
    assert {c.rule_id for c in spec_drift.collateral} == {a["rule_id"] for a in spec_drift.alerts} - expected
    assert all(not c.allowed for c in spec_drift.collateral)
    assert all(o.collateral == [] for o in run.outcomes if o.kind == "benign")
    jsonschema.Draft202012Validator(schema).validate(to_json(run))  # re-rendered as the current version


def test_live_baseline_is_current_and_passing(schema: dict) -> None:
    data = json.loads(BASELINE.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    jsonschema.Draft202012Validator(schema).validate(data)
    run = from_json(data)
    # Every row passed, but a variant missed where its rule's blind spot says (a known gap).
    assert run.outcomes and run.passed and all(o.passed or o.known_blind_spot for o in run.outcomes)
    assert all(o.variant_of for o in run.outcomes if not o.passed)
    assert all(c.allowed for o in run.outcomes for c in o.collateral)  # only may_fire alerts


def test_schema_rejects_an_unknown_verdict(schema: dict) -> None:
    data = to_json(make_run())
    data["outcomes"][0]["verdict"] = "probably"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(data)


def test_header_names_attack_version_and_utc_times() -> None:
    data = to_json(make_run())
    assert data["attack_version"] == ATTACK_VERSION
    assert data["started_at"] == "2025-11-29T08:00:00.000Z"
    assert data["started_at_epoch"] == 1764403200.0
    assert data["finished_at"].endswith("Z")


def test_summary_counts_rate_and_latency() -> None:
    summary = to_json(make_run())["summary"]
    assert summary["verdicts"] == {
        "detected": 5,
        "missed": 1,
        "silent": 3,
        "false_positive": 1,
        "error": 0,
        "skipped": 1,
    }
    assert summary["adversary"] == 7
    assert summary["benign"] == 4
    assert summary["adversary_concluded"] == 6  # the skipped nsenter scenario says nothing
    assert summary["detection_rate"] == pytest.approx(5 / 6)
    assert summary["false_positives"] == 1
    assert summary["false_positive_rules"] == {FALSE_POSITIVE_RULE: [FALSE_POSITIVE_ID]}
    assert summary["passed"] is False
    # detected latencies: 0.6, 1.4, 2.1, 3.2, 14.8
    assert summary["latency_median_s"] == 2.1
    assert summary["latency_p95_s"] == 14.8


def test_summary_of_a_judged_run() -> None:
    summary = to_json(judged_run())["summary"]
    assert summary["unlisted_collateral"] == 1
    assert summary["unlisted_collateral_rules"] == {UNLISTED_RULE: [UNLISTED_ID]}
    assert summary["soak_false_positives"] == 2
    assert summary["passed"] is False and summary["state"] == "fail"


@pytest.mark.parametrize(("change", "state"), [
    (lambda run: None, "pass"),
    (lambda run: setattr(run.outcomes[0], "verdict", Verdict.SKIPPED), "incomplete"),
    (lambda run: setattr(run.outcomes[0], "verdict", Verdict.MISSED), "fail"),
    (lambda run: setattr(run.outcomes[0], "collateral", [Collateral("r", "container:x", allowed=False)]), "fail"),
    (lambda run: setattr(run, "status", "aborted"), "fail"),
])
def test_state_says_pass_incomplete_or_fail(change, state: str) -> None:
    run = clean_run()
    change(run)
    assert to_json(run)["summary"]["state"] == state
    assert to_json(run)["summary"]["passed"] is (state == "pass")


def test_rule_precision_counts_every_alert_by_where_it_landed() -> None:
    rows = {r["rule_id"]: r for r in to_json(judged_run())["rule_precision"]}
    # unapproved-image: one detection, one false positive on the sanctioned rollout
    assert rows[FALSE_POSITIVE_RULE]["true_positives"] == {"expected": 1, "allowed_collateral": 0, "total": 1}
    assert rows[FALSE_POSITIVE_RULE]["false_positives"] == {
        "benign": 1, "soak": 0, "unlisted_collateral": 0, "total": 1, "on": [FALSE_POSITIVE_ID]}
    assert rows[FALSE_POSITIVE_RULE]["precision"] == 0.5
    # process egress: allowed collateral on log-driver-none (a TP) and one soak alert (an FP)
    assert rows[ALLOWED_RULE]["true_positives"]["allowed_collateral"] == 1
    assert rows[ALLOWED_RULE]["false_positives"]["soak"] == 1
    assert rows[ALLOWED_RULE]["false_positives"]["on"] == ["soak"]
    assert rows[ALLOWED_RULE]["precision"] == 0.5
    # drop-and-execute: only unlisted collateral, so only false positives
    assert rows[UNLISTED_RULE]["true_positives"]["total"] == 0
    assert rows[UNLISTED_RULE]["false_positives"]["unlisted_collateral"] == 1
    assert rows[UNLISTED_RULE]["false_positives"]["on"] == [UNLISTED_ID] and rows[UNLISTED_RULE]["precision"] == 0.0
    # the soak's other rule raised nothing else
    assert rows["stowaway.net.egress-not-allowlisted"]["precision"] == 0.0
    # a clean detection is precise
    assert rows["stowaway.resources.cpu-spike"]["precision"] == 1.0
    assert list(rows) == sorted(rows)


def test_rule_precision_lists_only_rules_that_raised_something() -> None:
    ids = {r.rule_id for r in rule_precision(make_run())}
    assert "stowaway.exec.masquerade-kernel-thread" not in ids  # watched and expected, never fired
    assert all(r.precision is not None for r in rule_precision(make_run()))
    empty = make_run()
    empty.outcomes = []
    assert rule_precision(empty) == []


def test_technique_coverage_scores() -> None:
    rows = {row["technique"]: row for row in to_json(make_run())["techniques"]}
    assert rows["T1036.005"]["coverage"] == 50  # one kworker miss, one nginx detection
    assert rows["T1611"]["coverage"] == 100  # the skipped nsenter scenario does not count against it
    assert rows["T1610"]["verdicts"]["false_positive"] == 1
    assert rows["T1562.001"]["scenarios"] == [
        "docker.logging.log-driver-none",
        "docker.logging.dev-minimal-logging",
    ]


def test_technique_with_only_benign_twins_is_unscored() -> None:
    run = make_run()
    run.outcomes = [o for o in run.outcomes if o.kind == "benign"]
    rows = to_json(run)["techniques"]
    assert rows and all(row["coverage"] is None for row in rows)
    assert to_json(run)["summary"]["detection_rate"] is None


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([float(i) for i in range(1, 21)], 95) == 19.0


def test_round_trip_preserves_everything(tmp_path: Path) -> None:
    run = make_run()
    path = write_json(run, tmp_path / "scorecard.json")
    back = from_json(load_json(path))
    assert back == run
    assert to_json(back) == to_json(run)
    assert back.outcomes[3].verdict is Verdict.FALSE_POSITIVE


def test_round_trip_keeps_collateral_and_the_soak(tmp_path: Path) -> None:
    run = judged_run()
    back = from_json(load_json(write_json(run, tmp_path / "scorecard.json")))
    assert back == run
    assert back.soak is not None and [s.name for s in back.soak.services] == ["web", "ledger-db"]
    assert back.soak.services[0].checks == ["412 requests answered 200", "access log shipped"]
    allowed = next(o for o in back.outcomes if o.scenario_id == ALLOWED_ID).collateral
    assert allowed == [Collateral(ALLOWED_RULE, allowed[0].object, allowed=True, reason=ALLOWED_REASON)]
    assert to_json(back) == to_json(run)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("run_id"), "run_id"),
        (lambda d: d["outcomes"][2].update(verdict="detectd"), "outcomes[2].verdict"),
        (lambda d: d["outcomes"][1].update(latency_s="fast"), "outcomes[1].latency_s"),
        (lambda d: d["outcomes"][0]["rules"][0].update(fired="yes"), "outcomes[0].rules[0].fired"),
        (lambda d: d.update(schema_version="2.0"), "schema_version"),
        (lambda d: d.update(started_at_epoch=True), "started_at_epoch"),
        (lambda d: d["outcomes"][5].update(data_sources="fim"), "outcomes[5].data_sources"),
        (lambda d: d["outcomes"][0]["collateral"][0].update(allowed="yes"), "outcomes[0].collateral[0].allowed"),
        (lambda d: d["outcomes"][0].update(collateral={}), "outcomes[0].collateral"),
        (lambda d: d["soak"].pop("minutes"), "soak.minutes"),
        (lambda d: d["soak"]["services"][1].update(healthy="mostly"), "soak.services[1].healthy"),
        (lambda d: d["soak"].update(alerts=["one"]), "soak.alerts"),
        (lambda d: d.update(soak=[]), "soak"),
    ],
)
def test_from_json_names_the_broken_field(mutate, field: str) -> None:
    data = to_json(judged_run())
    mutate(data)
    with pytest.raises(ScorecardFormatError) as info:
        from_json(data)
    assert info.value.field == field


def test_write_all_writes_every_format(tmp_path: Path) -> None:
    paths = write_all(make_run(), tmp_path / "out")
    assert {p.name for p in paths.values()} == {
        "scorecard.json",
        "scorecard.md",
        "navigator-layer.json",
        "junit.xml",
        "report.html",
        "scorecard.sarif",
    }
    assert all(p.stat().st_size > 200 for p in paths.values())
