"""Triage in the scorecard: a recorded run's adversaries get explain-alert's sections, cut short, for
their first expected alert; every format carries it and the JSON still meets its schema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema

from harness.outcome import RunResult
from harness.replay import load_run, replay_run
from harness.scorecard.html import to_html
from harness.scorecard.json_report import SCHEMA_PATH, from_json, to_json
from harness.scorecard.markdown import to_markdown
from harness.scorecard.triage import attach

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "tests" / "fixtures" / "runs" / "docker-recorded"


@cache
def triaged() -> tuple[RunResult, list[str]]:
    result = replay_run(load_run(RUN))
    problems = attach(result, RUN)
    return result, problems


def test_each_detected_adversary_gets_the_triage_of_its_first_expected_alert(no_lab) -> None:
    result, problems = triaged()
    assert problems == []
    for outcome in result.outcomes:
        fired = [r.rule_id for r in outcome.rules if r.fired]
        if outcome.kind == "adversary" and fired:
            assert len(outcome.triage) == 1 and outcome.triage[0]["rule_id"] in fired, outcome.scenario_id
            assert outcome.triage[0]["explain"].startswith(f"stowaway explain-alert {RUN} ")
        elif outcome.kind == "benign" and not outcome.alerts:
            assert outcome.triage == []


def test_the_facts_are_the_recorded_events_own(no_lab) -> None:
    result, _ = triaged()
    logging = next(o for o in result.outcomes if o.scenario_id == "docker.logging.log-driver-none")
    entry = logging.triage[0]
    assert entry["rule_id"] == "stowaway.docker.logging-disabled" and entry["workload"]["log driver"] == "none"
    assert any(f["field"] == "policy.logging.collected" for f in entry["policy_fields"])
    assert entry["deployed"]  # the engine's create/start of it


def test_every_format_carries_it_and_the_json_meets_the_schema(no_lab) -> None:
    result, _ = triaged()
    data = json.loads(json.dumps(to_json(result), default=str))
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(data)
    assert from_json(data).outcomes[1].triage == result.outcomes[1].triage
    markdown = to_markdown(result)
    assert "### Triage of the first alerts" in markdown and "stowaway explain-alert" in markdown
    assert '<div id="triage">' in to_html(result)


def test_a_run_that_was_not_recorded_has_no_triage_section(no_lab) -> None:
    result = replay_run(load_run(RUN))
    assert "Triage of the first alerts" not in to_markdown(result)
