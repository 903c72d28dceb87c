"""JUnit XML: parsed back with xml.etree, counts and mappings checked."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from scorecard_fixtures import (
    ALLOWED_ID,
    ALLOWED_REASON,
    ALLOWED_RULE,
    FALSE_POSITIVE_ID,
    MISSED_ID,
    SKIPPED_ID,
    SOAK_RULES,
    UNLISTED_ID,
    UNLISTED_RULE,
    judged_run,
    make_run,
    soak,
)

from harness.outcome import Verdict
from harness.scorecard.junit import case_property, to_junit_xml


def _parse(run=None) -> ET.Element:
    return ET.fromstring(to_junit_xml(run or make_run()).encode())


def _case(root: ET.Element, scenario_id: str) -> ET.Element:
    return next(c for c in root.iter("testcase") if c.get("name") == scenario_id)


def _total(root: ET.Element, count: str) -> int:
    # The root carries no totals (the Ant schema allows no attribute there): CI tools add the suites'.
    return sum(int(s.get(count) or 0) for s in root.findall("testsuite"))


def _details(root: ET.Element, scenario_id: str) -> dict[str, str]:
    """A test case's details: properties of its suite named <scenario id>:<field>."""
    suite = next(s for s in root.findall("testsuite") if _case_in(s, scenario_id))
    prefix = case_property(scenario_id, "")
    return {str(p.get("name"))[len(prefix):]: str(p.get("value"))
            for p in suite.find("properties") if str(p.get("name")).startswith(prefix)}


def _case_in(suite: ET.Element, scenario_id: str) -> bool:
    return any(c.get("name") == scenario_id for c in suite.findall("testcase"))


def test_suites_per_kind_and_totals() -> None:
    root = _parse()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"stowaway.docker.adversary", "stowaway.docker.benign"}
    adversary, benign = suites["stowaway.docker.adversary"], suites["stowaway.docker.benign"]
    assert (
        adversary.get("tests"),
        adversary.get("failures"),
        adversary.get("skipped"),
        adversary.get("errors"),
    ) == (
        "7",
        "1",
        "1",
        "0",
    )
    assert (benign.get("tests"), benign.get("failures")) == ("4", "1")
    assert root.attrib == {}
    assert [_total(root, k) for k in ("tests", "failures", "errors", "skipped")] == [11, 2, 0, 1]
    assert len(list(root.iter("testcase"))) == 11
    assert [s.get("id") for s in root.findall("testsuite")] == ["0", "1"]
    assert {s.get("package") for s in root.findall("testsuite")} == {"stowaway.docker"}
    assert adversary.get("timestamp") == "2025-11-29T08:00:00"  # UTC, no zone: the Ant schema's form
    assert adversary.get("hostname") == "localhost"  # the run records no host


def test_verdicts_map_to_failure_error_skipped() -> None:
    run = make_run()
    run.outcomes[0].verdict = Verdict.ERROR
    run.outcomes[0].reason = "the lab could not start the container"
    root = _parse(run)
    assert _case(root, MISSED_ID).find("failure").get("type") == "missed_detection"
    fp = _case(root, FALSE_POSITIVE_ID).find("failure")
    assert fp.get("type") == "false_positive" and "stowaway.docker.unapproved-image" in fp.text
    assert _case(root, SKIPPED_ID).find("skipped") is not None
    error = _case(root, run.outcomes[0].scenario_id).find("error")
    assert error.get("message") == "the lab could not start the container"
    assert _total(root, "errors") == 1
    detected = _case(root, "docker.resources.cpu-miner")
    assert detected.find("failure") is None and detected.find("error") is None


def test_time_and_properties() -> None:
    root = _parse()
    case = _case(root, "docker.resources.cpu-miner")
    assert float(case.get("time")) == 28.0  # action at +3 s, finished 25 s later
    assert case.find("properties") is None and list(case) == []  # a passing case holds nothing
    props = _details(root, "docker.resources.cpu-miner")
    assert props["techniques"] == "T1496"
    assert props["latency_s"] == "14.800"
    assert props["verdict"] == "detected" and props["title"] == "Miner-like sustained CPU and stratum beacons"
    suite_props = {p.get("name"): p.get("value") for p in root.find("testsuite").find("properties")}
    assert suite_props["attack_version"] == "18"
    out = root.find("testsuite").find("system-out").text
    assert f"{MISSED_ID}: stowaway.exec.masquerade-kernel-thread did not fire within 20 s" in out


def test_unlisted_collateral_is_a_failure_of_a_detected_scenario() -> None:
    root = _parse(judged_run(with_soak=False))
    case = _case(root, UNLISTED_ID)
    failure = case.find("failure")
    assert failure.get("type") == "unlisted_collateral"
    assert f"unlisted collateral (false positive): {UNLISTED_RULE} on container:" in failure.text
    props = _details(root, UNLISTED_ID)
    assert props["verdict"] == "detected" and UNLISTED_RULE in props["unlisted_collateral"]
    allowed = _details(root, ALLOWED_ID)
    assert _case(root, ALLOWED_ID).find("failure") is None
    assert ALLOWED_RULE in allowed["allowed_collateral"] and ALLOWED_REASON in allowed["allowed_collateral"]
    adversary = next(s for s in root.findall("testsuite") if s.get("name") == "stowaway.docker.adversary")
    assert adversary.get("failures") == "2"  # the miss and the collateral
    assert _total(root, "failures") == 3


def test_soak_is_one_case_that_fails_listing_each_alert() -> None:
    root = _parse(judged_run())
    suite = next(s for s in root.findall("testsuite") if s.get("name") == "stowaway.docker.soak")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "1", "0")
    case = suite.find("testcase")
    assert case.get("name") == "soak" and float(case.get("time")) == 600.0
    failure = case.find("failure")
    assert failure.get("type") == "false_positive"
    assert failure.text.count("false positive: ") == 2 and SOAK_RULES[1] in failure.text
    assert "web: nginx serving" in suite.find("system-out").text
    assert _total(root, "tests") == 12 and _total(root, "failures") == 4


def test_quiet_soak_passes_and_a_broken_one_is_an_error() -> None:
    run = judged_run(with_soak=False)
    run.soak = soak(alerts=0)
    case = _case(_parse(run), "soak")
    assert case.find("failure") is None and case.find("error") is None
    run.soak.status, run.soak.reason = "error", "the ledger-db never accepted a write"
    error = _case(_parse(run), "soak").find("error")
    assert error is not None and error.get("message") == "the ledger-db never accepted a write"


def test_a_reason_with_control_characters_stays_well_formed_and_visible() -> None:
    run = make_run()
    error = next(o for o in run.outcomes if o.scenario_id == MISSED_ID)
    error.reason = "exec failed: \x1b[31mpermission denied\x1b[0m\x00 (exit 126)\ufffe"
    root = _parse(run)  # ET.fromstring raises on an ill-formed file
    failure = _case(root, MISSED_ID).find("failure")
    assert failure is not None
    assert failure.get("message") == "exec failed: \\x1b[31mpermission denied\\x1b[0m\\x00 (exit 126)\\ufffe"
