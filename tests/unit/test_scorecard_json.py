"""The JSON scorecard: published shape (JSON Schema), derived figures, and the round trip."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from scorecard_fixtures import ATTACK_VERSION, FALSE_POSITIVE_ID, FALSE_POSITIVE_RULE, make_run

from harness.outcome import Verdict
from harness.scorecard import write_all
from harness.scorecard.json_report import (
    SCHEMA_PATH,
    ScorecardFormatError,
    from_json,
    load_json,
    percentile,
    to_json,
    write_json,
)


@pytest.fixture(scope="module")
def schema() -> dict:
    data = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(data)
    return data


def test_rendered_scorecard_validates_against_published_schema(schema: dict) -> None:
    jsonschema.Draft202012Validator(schema).validate(to_json(make_run()))


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
    ],
)
def test_from_json_names_the_broken_field(mutate, field: str) -> None:
    data = to_json(make_run())
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
    }
    assert all(p.stat().st_size > 200 for p in paths.values())
