"""JUnit XML: one testsuite per scenario kind, one testcase per scenario, and a soak suite.

Mapping: missed and false_positive are ``failure`` (the detectors are wrong), and so is a detected
adversary with unlisted collateral (another rule raised a false positive on its objects); error is
``error`` (nothing can be concluded), skipped is ``skipped``, and so is a variant's miss on a
documented blind spot, whose message starts with ``xfail:`` (an expected failure, as pytest reports
one). Each external detector graded beside them (``--alerts-from``) is a suite of its own, a case
per scenario: its misses and false positives fail, "no expectation" is skipped. The soak, when one
ran, is one test case that fails listing each alert (every alert on the benign fleet is a false
positive). CI systems (GitLab, Jenkins, GitHub test reporters) then count
and display them the way they already count unit tests.

The file validates against both schemas CI tools hold JUnit XML to, the Jenkins xunit plugin's
``junit-10.xsd`` and the Ant JUnit schema (copies and their origin: ``tests/fixtures/junit/``).
Between them they decide its shape:

- ``<testsuites>`` carries no attribute (Ant allows none); the totals are the suites' own;
- a ``<testsuite>`` has ``package``, ``id``, ``hostname`` and a ``timestamp`` in UTC without a zone
  suffix (Ant requires each, and allows no zone), and holds, in this order, ``properties``, its
  test cases, ``system-out`` and ``system-err``;
- a ``<testcase>`` holds at most one ``failure``, ``error`` or ``skipped`` and nothing else (neither
  schema allows properties in a test case, Ant no output either), and ``skipped`` has no ``type``;
  so a case's details are properties of its suite named ``<scenario id>:<field>``, and each case's
  reason is a line ``<scenario id>: <reason>`` of the suite's ``system-out``.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from harness.external.grading import DetectorReport
from harness.outcome import Outcome, RunResult, SoakResult, Verdict

# Characters XML 1.0 cannot carry at all, escaped or not (ElementTree would write them raw and the
# file would be ill-formed): a scenario's reason can hold any of them (a terminal colour code in an
# error message, a NUL from a container's output).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` with every character XML cannot hold written out as a visible escape (``\x1b``)."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def _sanitise(root: ET.Element) -> None:
    for element in root.iter():
        for key, value in element.attrib.items():
            element.set(key, xml_safe(value))
        if element.text:
            element.text = xml_safe(element.text)
        if element.tail:
            element.tail = xml_safe(element.tail)


FAILURE_TYPES = {Verdict.MISSED: "missed_detection", Verdict.FALSE_POSITIVE: "false_positive"}
COLLATERAL_FAILURE = "unlisted_collateral"
RESPONSE_FAILURE = "response_failed"  # run --respond: containment, evidence or release not proved
XFAIL = "xfail"  # how a skipped case's message starts when it is a known blind spot
# The Ant schema's "localhost should be used if the hostname cannot be determined": the run does not
# record the host it ran on unless its environment names one.
UNKNOWN_HOST = "localhost"


def failure_type(outcome: Outcome) -> str | None:
    """The JUnit failure type of an outcome, None when it is not a failure (error and skip are not,
    nor a variant's miss on a documented blind spot: reported as pytest reports an expected failure)."""
    if outcome.known_blind_spot:
        return None
    if outcome.verdict in FAILURE_TYPES:
        return FAILURE_TYPES[outcome.verdict]
    if outcome.verdict.passed and outcome.unlisted_collateral:
        return COLLATERAL_FAILURE
    if outcome.verdict.passed and outcome.response is not None and not outcome.response.passed:
        return RESPONSE_FAILURE
    return None


def junit_timestamp(epoch: float) -> str:
    """UTC to the second, without a zone suffix: the only form the Ant schema accepts."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def case_property(scenario_id: str, field: str) -> str:
    """The name of a test case's detail among its suite's properties."""
    return f"{scenario_id}:{field}"


def _collateral_lines(outcome: Outcome) -> list[str]:
    return [f"unlisted collateral (false positive): {c.rule_id} on {c.object}" for c in outcome.unlisted_collateral]


def _response_lines(outcome: Outcome) -> list[str]:
    response = outcome.response
    if response is None or response.passed:
        return []
    return [f"response {response.playbook} ({response.action}) not proved: "
            + "; ".join(x for x in [response.error, *response.checks, *response.release_checks,
                                    *(f"planted {p} not in the evidence" for p in response.planted_missing)] if x)]


def _duration(outcome: Outcome) -> float:
    return max(0.0, outcome.finished_at - outcome.started_at)


def _case_properties(outcome: Outcome) -> list[tuple[str, str]]:
    """A test case's details, the empty ones left out."""
    details = (
        ("title", outcome.title),
        ("techniques", ",".join(outcome.techniques)),
        ("verdict", outcome.verdict.value),
        ("visibility", outcome.visibility.value),
        ("latency_s", "" if outcome.latency_s is None else f"{outcome.latency_s:.3f}"),
        ("allowed_collateral", "; ".join(f"{c.rule_id} on {c.object}: {c.reason}"
                                         for c in outcome.collateral if c.allowed)),
        ("unlisted_collateral", "; ".join(f"{c.rule_id} on {c.object}" for c in outcome.unlisted_collateral)),
        ("known_blind_spot", outcome.known_blind_spot or ""),
        ("response", "" if outcome.response is None else
         f"{outcome.response.playbook}: {outcome.response.action}, "
         f"{'passed' if outcome.response.passed else 'failed'}"
         + ("" if outcome.response.time_to_contain_s is None
            else f", contained {outcome.response.time_to_contain_s:.3f}s after the alert")),
    )
    return [(case_property(outcome.scenario_id, name), value) for name, value in details if value]


def _testcase(parent: ET.Element, outcome: Outcome) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        name=outcome.scenario_id,
        classname=f"stowaway.{outcome.backend}.{outcome.kind}",
        time=f"{_duration(outcome):.3f}",
    )
    kind = failure_type(outcome)
    if kind is not None:
        failure = ET.SubElement(case, "failure", message=outcome.reason, type=kind)
        fired = [f"{a.get('rule_id')} on {a.get('object')}" for a in outcome.alerts]
        failure.text = "\n".join([outcome.reason, *(["alerts: " + "; ".join(fired)] if fired else []),
                                  *_collateral_lines(outcome), *_response_lines(outcome)])
    elif outcome.verdict is Verdict.ERROR:
        ET.SubElement(case, "error", message=outcome.reason, type="scenario_error").text = outcome.reason
    elif outcome.verdict is Verdict.SKIPPED:
        ET.SubElement(case, "skipped", message=outcome.reason)
    elif outcome.known_blind_spot:
        ET.SubElement(case, "skipped", message=f"{XFAIL}: known blind spot: {outcome.known_blind_spot}")


def _suite(root: ET.Element, run: RunResult, name: str, started_at: float, duration: float,
           counts: dict[str, int], properties: list[tuple[str, str]]) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", {
        "name": name,
        "package": f"stowaway.{run.backend}",
        "id": str(len(root.findall("testsuite"))),
        "hostname": str(run.environment.get("hostname") or UNKNOWN_HOST),
        "timestamp": junit_timestamp(started_at),
        "time": f"{duration:.3f}",
        **{k: str(v) for k, v in counts.items()},
    })
    props = ET.SubElement(suite, "properties")
    for prop, value in properties:
        ET.SubElement(props, "property", name=prop, value=value)
    return suite


def _close(suite: ET.Element, out: list[str]) -> None:
    ET.SubElement(suite, "system-out").text = "\n".join(out)
    ET.SubElement(suite, "system-err")


def to_junit(run: RunResult) -> ET.Element:
    root = ET.Element("testsuites")
    run_properties = [("run_id", run.run_id), ("attack_version", str(run.attack_version)),
                      ("backend", run.backend), ("status", run.status)]
    for kind in sorted({o.kind for o in run.outcomes}):
        outcomes = [o for o in run.outcomes if o.kind == kind]
        counts = {
            "tests": len(outcomes),
            "failures": sum(failure_type(o) is not None for o in outcomes),
            "errors": sum(o.verdict is Verdict.ERROR for o in outcomes),
            "skipped": sum(o.verdict is Verdict.SKIPPED or bool(o.known_blind_spot) for o in outcomes),
        }
        suite = _suite(root, run, f"stowaway.{run.backend}.{kind}", run.started_at,
                       sum(_duration(o) for o in outcomes), counts,
                       run_properties + [p for o in outcomes for p in _case_properties(o)])
        for outcome in outcomes:
            _testcase(suite, outcome)
        _close(suite, [f"{o.scenario_id}: {o.reason}" for o in outcomes])
    if run.soak is not None:
        _soak_suite(root, run, run.soak)
    for report in run.external:
        _external_suite(root, run, report)
    return root


EXTERNAL_FAILURES = {"missed": "missed_detection", "false_positive": "false_positive"}


def _external_suite(root: ET.Element, run: RunResult, report: DetectorReport) -> None:
    """One suite per external detector, a case per canonical scenario: its misses and false
    positives fail; "no expectation" and "not run" are skipped, with the reason."""
    results = [r for r in report.results if r.variant_of is None]
    outcomes = {o.scenario_id: o for o in run.outcomes}
    counts = {"tests": len(results), "failures": sum(r.verdict.value in EXTERNAL_FAILURES for r in results),
              "errors": 0, "skipped": sum(r.verdict.value in ("no_expectation", "not_run") for r in results)}
    name = f"stowaway.{run.backend}.external.{report.detector}"
    suite = _suite(root, run, name, run.started_at, max(0.0, run.finished_at - run.started_at), counts,
                   [("detector", report.detector), ("format", report.format), ("source", report.source),
                    ("mapping", report.mapping or "none")])
    for result in results:
        outcome = outcomes.get(result.scenario_id)
        case = ET.SubElement(suite, "testcase", name=result.scenario_id, classname=name,
                             time=f"{_duration(outcome) if outcome else 0.0:.3f}")
        if result.verdict.value in EXTERNAL_FAILURES:
            ET.SubElement(case, "failure", message=result.reason,
                          type=EXTERNAL_FAILURES[result.verdict.value]).text = result.reason
        elif result.verdict.value in ("no_expectation", "not_run"):
            ET.SubElement(case, "skipped", message=f"{result.verdict.value}: {result.reason}")
    _close(suite, [f"{r.scenario_id}: {r.verdict.value}: {r.reason}" for r in results])


def _soak_suite(root: ET.Element, run: RunResult, soak: SoakResult) -> None:
    """One suite, one case: the benign fleet ran for N minutes; each alert is a false positive."""
    duration = max(0.0, soak.finished_at - soak.started_at)
    failed, errored = int(bool(soak.alerts)), int(soak.status != "complete")
    counts = {"tests": 1, "failures": failed, "errors": errored if not failed else 0, "skipped": 0}
    suite = _suite(root, run, f"stowaway.{run.backend}.soak", soak.started_at, duration, counts,
                   [("run_id", run.run_id), ("minutes", f"{soak.minutes:g}"), ("status", soak.status),
                    ("services", ", ".join(s.name for s in soak.services))])
    case = ET.SubElement(suite, "testcase", name="soak", classname=f"stowaway.{run.backend}.soak",
                         time=f"{duration:.3f}")
    services = [f"{s.name}: {s.does} ({'; '.join(s.checks) or 'no checks'})"
                + ("" if s.healthy else " [not healthy]") for s in soak.services]
    if soak.alerts:
        message = f"{len(soak.alerts)} alert(s) on the benign fleet in {soak.minutes:g} minutes, each a false positive"
        lines = [f"false positive: {a.get('rule_id')} on {a.get('object')}: {a.get('title', '')}" for a in soak.alerts]
        ET.SubElement(case, "failure", message=message, type="false_positive").text = "\n".join([message, *lines])
    elif soak.status != "complete":
        ET.SubElement(case, "error", message=soak.reason, type="soak_error").text = soak.reason
    _close(suite, [soak.reason, *services])


def to_junit_xml(run: RunResult) -> str:
    root = to_junit(run)
    _sanitise(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(run: RunResult, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(to_junit_xml(run), encoding="utf-8")
    return target
