"""run --respond in the scorecards: every format says what was contained, collected and released."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema
from scorecard_fixtures import make_run, responded_run

from harness.scorecard import to_html, to_json, to_markdown
from harness.scorecard.json_report import SCHEMA_PATH, from_json
from harness.scorecard.junit import to_junit_xml
from harness.scorecard.response import figures


def test_a_failed_response_fails_its_outcome_and_the_run_but_not_the_verdict() -> None:
    run = responded_run()
    good, bad = [o for o in run.outcomes if o.response is not None]
    assert good.passed and good.response is not None and good.response.passed
    assert bad.verdict.value == "detected" and not bad.passed and not run.passed


def test_figures_count_each_proof_and_time_to_contain() -> None:
    found = figures(responded_run())
    assert (found.responses, found.passed, found.contained, found.evidence_complete, found.released) == (2, 1, 2, 1, 1)
    assert found.time_to_contain_median_s == 0.8 and found.time_to_contain_p95_s == 1.5


def test_json_validates_and_reads_back_every_field() -> None:
    data = to_json(responded_run())
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(data)
    again = from_json(json.loads(json.dumps(data)))
    assert [o.response for o in again.outcomes] == [o.response for o in responded_run().outcomes]
    assert all(o["response"] is None for o in to_json(make_run())["outcomes"])


def test_markdown_and_html_show_the_response_rows() -> None:
    text = to_markdown(responded_run())
    section = text.split("### Response", 1)[1]
    assert "2 response(s): 1 passed" in section and "| contain-egress | quarantine | yes | 0.8 s |" in section
    assert "missing sha256:" in section
    assert "### Response" not in to_markdown(make_run())
    page = to_html(responded_run())
    assert '<div id="response">' in page and 'data-response-passed="false"' in page


def test_junit_fails_the_case_whose_response_was_not_proved() -> None:
    root = ET.fromstring(to_junit_xml(responded_run()))
    failures = {c.get("name"): c.find("failure") for c in root.iter("testcase") if c.find("failure") is not None}
    bad = next(o for o in responded_run().outcomes if o.response is not None and not o.response.passed)
    assert failures[bad.scenario_id] is not None
    assert failures[bad.scenario_id].get("type") == "response_failed"
    assert "not in the evidence" in (failures[bad.scenario_id].text or "")
