"""JUnit XML: one testsuite per scenario kind, one testcase per scenario.

Mapping: missed and false_positive are ``failure`` (the detectors are wrong), error is ``error``
(nothing can be concluded), skipped is ``skipped``. CI systems (GitLab, Jenkins, GitHub test
reporters) then count and display them the way they already count unit tests.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.outcome import Outcome, RunResult, Verdict
from harness.scorecard.json_report import iso_utc

FAILURE_TYPES = {Verdict.MISSED: "missed_detection", Verdict.FALSE_POSITIVE: "false_positive"}


def _duration(outcome: Outcome) -> float:
    return max(0.0, outcome.finished_at - outcome.started_at)


def _testcase(parent: ET.Element, outcome: Outcome) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        name=outcome.scenario_id,
        classname=f"stowaway.{outcome.backend}.{outcome.kind}",
        time=f"{_duration(outcome):.3f}",
    )
    props = ET.SubElement(case, "properties")
    for name, value in (
        ("techniques", ",".join(outcome.techniques)),
        ("verdict", outcome.verdict.value),
        ("visibility", outcome.visibility.value),
        ("latency_s", "" if outcome.latency_s is None else f"{outcome.latency_s:.3f}"),
        ("title", outcome.title),
    ):
        ET.SubElement(props, "property", name=name, value=value)

    if outcome.verdict in FAILURE_TYPES:
        failure = ET.SubElement(case, "failure", message=outcome.reason, type=FAILURE_TYPES[outcome.verdict])
        fired = [f"{a.get('rule_id')} on {a.get('object')}" for a in outcome.alerts]
        failure.text = outcome.reason + ("\nalerts: " + "; ".join(fired) if fired else "")
    elif outcome.verdict is Verdict.ERROR:
        ET.SubElement(case, "error", message=outcome.reason, type="scenario_error").text = outcome.reason
    elif outcome.verdict is Verdict.SKIPPED:
        ET.SubElement(case, "skipped", message=outcome.reason)
    ET.SubElement(case, "system-out").text = outcome.reason


def to_junit(run: RunResult) -> ET.Element:
    root = ET.Element("testsuites", name=f"stowaway {run.run_id}")
    kinds = sorted({o.kind for o in run.outcomes})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for kind in kinds:
        outcomes = [o for o in run.outcomes if o.kind == kind]
        counts = {
            "tests": len(outcomes),
            "failures": sum(o.verdict in FAILURE_TYPES for o in outcomes),
            "errors": sum(o.verdict is Verdict.ERROR for o in outcomes),
            "skipped": sum(o.verdict is Verdict.SKIPPED for o in outcomes),
        }
        suite_time = sum(_duration(o) for o in outcomes)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"stowaway.{run.backend}.{kind}",
            timestamp=iso_utc(run.started_at),
            time=f"{suite_time:.3f}",
            **{k: str(v) for k, v in counts.items()},
        )
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("run_id", run.run_id),
            ("attack_version", str(run.attack_version)),
            ("backend", run.backend),
            ("status", run.status),
        ):
            ET.SubElement(props, "property", name=name, value=value)
        for outcome in outcomes:
            _testcase(suite, outcome)
        for key in totals:
            totals[key] += counts[key]
        total_time += suite_time
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    return root


def to_junit_xml(run: RunResult) -> str:
    root = to_junit(run)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(run: RunResult, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(to_junit_xml(run), encoding="utf-8")
    return target
