"""Detectors side by side in every scorecard format (the grading itself: test_external_grading.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
from scorecard_fixtures import external_run, judged_run

from harness.scorecard import to_html, to_json, to_markdown
from harness.scorecard.external import figures
from harness.scorecard.json_report import SCHEMA_PATH, ScorecardFormatError, from_json
from harness.scorecard.junit import to_junit_xml


def test_json_carries_each_report_validates_and_reads_back() -> None:
    run = external_run()
    data = to_json(run)
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(data)
    again = from_json(json.loads(json.dumps(data)))
    assert [r.to_dict() for r in again.external] == [r.to_dict() for r in run.external]
    assert to_json(judged_run())["external"] == []


def test_a_broken_report_is_refused_naming_its_field() -> None:
    data = to_json(external_run())
    data["external"][0]["results"][1]["verdict"] = "caught"
    try:
        from_json(data)
    except ScorecardFormatError as exc:
        assert exc.field == "external[0].results[1].verdict" and "'caught' is not one of" in str(exc)
    else:
        raise AssertionError("a verdict outside the enum was read")


def test_the_figures_count_canonical_rows_and_say_what_kind_of_number_each_is() -> None:
    report = external_run().external[0]
    found = figures(report)
    assert (found.expected, found.detected, found.twins_alerted, found.soak_alerts) == (2, 1, 1, 0)
    assert found.no_expectation >= 1
    assert found.headline().startswith("1/2 expected detections")


def test_markdown_puts_the_detectors_side_by_side_and_lists_what_was_ignored() -> None:
    text = to_markdown(external_run())
    section = text.split("### Detectors side by side", 1)[1]
    assert "| scenario | kind | stowaway | falco |" in section
    assert "FALSE POSITIVE" in section and "MISSED" in section and "no expectation" in section
    assert "ignored `Container Drift`: fires on every package install" in section
    assert "on no lab object (most: `Host \\| rule\x1b` 1)" in section  # a pipe cannot break the table
    assert "### Detectors side by side" not in to_markdown(judged_run())


def test_html_escapes_the_tools_words_and_marks_each_verdict() -> None:
    page = to_html(external_run())
    assert '<div id="detectors">' in page and "note &lt;b&gt;" in page and "note <b>" not in page
    assert 'data-detector-verdict="false_positive"' in page and 'data-detector-verdict="detected"' in page


def test_junit_has_a_suite_per_external_detector_whose_misses_fail() -> None:
    root = ET.fromstring(to_junit_xml(external_run()))
    suite = next(s for s in root.iter("testsuite") if s.get("name", "").endswith(".external.falco"))
    assert int(suite.get("failures", "0")) == 2  # one miss, one twin alerted on
    assert int(suite.get("skipped", "0")) >= 1  # no expectation: never a pass
    assert any(p.get("name") == "mapping" and p.get("value") == "maps/falco.yaml" for p in suite.iter("property"))


def test_the_report_files_are_written_with_the_section(tmp_path: Path) -> None:
    from harness.scorecard import write_all

    written = write_all(external_run(), tmp_path)
    assert "Detectors side by side" in written["markdown"].read_text()
