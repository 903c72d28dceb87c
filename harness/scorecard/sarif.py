"""SARIF 2.1.0: the detectors' failures in a run, as results GitHub code scanning (and any other SARIF
consumer) lists, tracks across runs and closes when they are fixed.

A result is something wrong with one of the lab's own detectors, named by its rule id:

- an adversary missed (not on a documented blind spot): one ``error`` per expected rule that did not
  fire before its deadline;
- a benign twin's false positive: one ``error`` per rule that fired on it;
- unlisted collateral on an adversary: one ``error`` per item (a rule firing where the scenario
  neither expects nor allows it);
- the soak (the realistic benign fleet): one ``error`` per alert;
- a variant's miss on a documented blind spot: ``note`` results, a gap the rule already admits.

Errors and skips say nothing about a detector, so they are not results: they are the invocation's
``toolExecutionNotifications`` (``warning`` for an error, ``note`` for a skip), and
``executionSuccessful`` is whether the run passed. External detectors graded beside the lab's
(``--alerts-from``) are left out: SARIF names the tool whose rules it judges, and those rules are not
Stowaway's (their verdicts are in the JSON, Markdown, JUnit and HTML reports).

Locations: GitHub rejects a whole file when any result lacks a physical location, so every result has
one. A built-in scenario's is its source file (``scenarios/docker/escape/docker_socket.py``, relative
to ``%SRCROOT%``, the repository root); a scenario from elsewhere (``--scenarios DIR`` or a scenario
pack) has the same path under ``SCENARIOROOT``, its scenario root, which the run does not record; the
soak's is the fleet's service registry. Beside it, a logical location names the scenario id (a
variant's included) or ``soak``. ``partialFingerprints["stowaway/v1"]`` is
``<scenario id>|<rule id>|<kind>`` (and the fleet service for the soak), so the same failure is the
same alert from one run to the next; container ids, which change every run, stay out of it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.outcome import Outcome, RunResult, SoakResult, Verdict
from harness.scorecard.figures import iso_utc
from harness.scorecard.json_report import write_json_dict
from scenarios.registry import BUILTIN_ROOT

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "Stowaway"
FINGERPRINT_KEY = "stowaway/v1"  # bump the suffix only with the fingerprint's recipe: it reopens every alert
SRCROOT = "%SRCROOT%"
SCENARIOROOT = "SCENARIOROOT"
REPO_ROOT = BUILTIN_ROOT.parent
# The soak has no scenario file: its benign fleet is this registry of services.
FLEET_SOURCE = "harness/fleet/services/__init__.py"
SOAK = "soak"
UNKNOWN_RULE = "(unknown rule)"

# What each kind of result is, in the fingerprint and in properties.finding.
MISSED = "missed"
KNOWN_BLIND_SPOT = "known_blind_spot"
FALSE_POSITIVE = "false_positive"
UNLISTED_COLLATERAL = "unlisted_collateral"
SOAK_ALERT = "soak_alert"


def _tool_version() -> str | None:
    """The installed distribution's version (as ``stowaway --version`` reads it); None when Stowaway
    runs from a checkout that was never installed."""
    try:
        return version("stowaway")
    except PackageNotFoundError:
        return None


def scenario_source(scenario_id: str) -> str | None:
    """A built-in scenario's file, relative to the repository root; None when the scenario is not a
    built-in one. The inverse of ``scenarios.registry.id_for``; a variant (``<id>@<label>``) is its
    scenario's file."""
    base = scenario_id.split("@", 1)[0]
    parts = [part.replace("-", "_") for part in base.split(".")]
    if not all(parts) or any(part.startswith("_") or "/" in part or "\\" in part for part in parts):
        return None  # no id the registry makes: never a path outside the scenarios folder
    relative = Path(BUILTIN_ROOT.name, *parts).with_suffix(".py")
    return relative.as_posix() if (REPO_ROOT / relative).is_file() else None


def _scenario_root_path(scenario_id: str) -> str:
    """The path an outside scenario's id names under its scenario root (``registry.id_for`` inverted)."""
    base = scenario_id.split("@", 1)[0] or "scenario"
    return "/".join(part.replace("-", "_") for part in base.split(".")) + ".py"


def _physical(path: str, base: str) -> dict[str, Any]:
    # A URI, not a path: GitHub refuses the whole file over one it cannot parse (a space, a '#').
    return {"artifactLocation": {"uri": quote(path, safe="/"), "uriBaseId": base}}


def _location(physical: dict[str, Any], name: str) -> dict[str, Any]:
    return {"physicalLocation": physical, "logicalLocations": [{"name": name, "kind": "module"}]}


def scenario_location(scenario_id: str) -> dict[str, Any]:
    builtin = scenario_source(scenario_id)
    physical = _physical(builtin, SRCROOT) if builtin else _physical(_scenario_root_path(scenario_id), SCENARIOROOT)
    return _location(physical, scenario_id)


def soak_location() -> dict[str, Any]:
    return _location(_physical(FLEET_SOURCE, SRCROOT), SOAK)


def _tags(techniques: Iterable[str]) -> list[str]:
    return sorted({f"attack:{t}" for t in techniques if t})


def _result(rule_id: str, level: str, kind: str, text: str, location: dict[str, Any], fingerprint: str,
            properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "ruleId": rule_id,
        "level": level,
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
        "properties": {"finding": kind, **properties},
    }


def _outcome_properties(run: RunResult, outcome: Outcome) -> dict[str, Any]:
    properties: dict[str, Any] = {"tags": _tags(outcome.techniques), "attack_version": run.attack_version,
                                  "verdict": outcome.verdict.value, "scenario": outcome.scenario_id,
                                  "scenario_kind": outcome.kind, "backend": outcome.backend}
    if outcome.variant_of:
        properties["variant_of"] = outcome.variant_of
    return properties


def _unfired(outcome: Outcome) -> list[str]:
    """The expected rules that did not fire; a miss recorded without them still names a rule."""
    return [r.rule_id for r in outcome.rules if not r.fired] or [r.rule_id for r in outcome.rules] or [UNKNOWN_RULE]


def _missed(run: RunResult, outcome: Outcome) -> list[dict[str, Any]]:
    blind_spot = outcome.known_blind_spot
    level, kind = ("note", KNOWN_BLIND_SPOT) if blind_spot else ("error", MISSED)
    results = []
    for rule_id in _unfired(outcome):
        text = f"{outcome.scenario_id}: expected rule {rule_id} did not fire: {outcome.reason}"
        if blind_spot:
            text += f" (known blind spot: {blind_spot})"
        results.append(_result(rule_id, level, kind, text, scenario_location(outcome.scenario_id),
                               f"{outcome.scenario_id}|{rule_id}|{kind}", _outcome_properties(run, outcome)))
    return results


def _false_positives(run: RunResult, outcome: Outcome) -> list[dict[str, Any]]:
    objects: dict[str, list[str]] = {}
    for alert in outcome.alerts:
        objects.setdefault(str(alert.get("rule_id") or UNKNOWN_RULE), []).append(str(alert.get("object", "")))
    # A verdict of false positive without the alert kept still came from a rule that fired.
    for rule in outcome.rules:
        if rule.fired:
            objects.setdefault(rule.rule_id, [])
    results = []
    for rule_id in sorted(objects) or [UNKNOWN_RULE]:
        on = ", ".join(o for o in objects.get(rule_id, []) if o)
        text = (f"{outcome.scenario_id}: rule {rule_id} fired on a benign workload, a false positive"
                + (f" (on {on})" if on else "") + f": {outcome.reason}")
        results.append(_result(rule_id, "error", FALSE_POSITIVE, text, scenario_location(outcome.scenario_id),
                               f"{outcome.scenario_id}|{rule_id}|{FALSE_POSITIVE}", _outcome_properties(run, outcome)))
    return results


def _collateral(run: RunResult, outcome: Outcome) -> list[dict[str, Any]]:
    return [
        _result(item.rule_id, "error", UNLISTED_COLLATERAL,
                f"{outcome.scenario_id}: rule {item.rule_id} fired on {item.object}, which the scenario neither "
                "expects nor allows (expect.may_fire): a false positive of that rule",
                scenario_location(outcome.scenario_id), f"{outcome.scenario_id}|{item.rule_id}|{UNLISTED_COLLATERAL}",
                _outcome_properties(run, outcome))
        for item in outcome.unlisted_collateral
    ]


def _service_of(soak: SoakResult, obj: str) -> str | None:
    return next((s.name for s in soak.services if obj and obj in s.objects), None)


def _soak_alerts(run: RunResult, soak: SoakResult) -> list[dict[str, Any]]:
    results = []
    for alert in soak.alerts:
        rule_id, obj = str(alert.get("rule_id") or UNKNOWN_RULE), str(alert.get("object", ""))
        service = _service_of(soak, obj)
        where = f"service {service} ({obj})" if service else (obj or "the fleet")
        text = (f"soak: rule {rule_id} fired on {where} during {soak.minutes:g} minutes of the benign fleet, "
                f"a false positive: {alert.get('title', '')}")
        fingerprint = f"{SOAK}|{rule_id}|{SOAK_ALERT}" + (f"|{service}" if service else "")
        results.append(_result(rule_id, "error", SOAK_ALERT, text, soak_location(), fingerprint,
                               {"tags": _tags(alert.get("techniques") or []), "attack_version": run.attack_version,
                                "verdict": FALSE_POSITIVE, "scenario": SOAK}))
    return results


def _results(run: RunResult) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for outcome in run.outcomes:
        if outcome.kind == "adversary" and outcome.verdict is Verdict.MISSED:
            results += _missed(run, outcome)
        if outcome.kind == "benign" and outcome.verdict is Verdict.FALSE_POSITIVE:
            results += _false_positives(run, outcome)
        results += _collateral(run, outcome)  # never excused, not even by a blind spot
    if run.soak is not None:
        results += _soak_alerts(run, run.soak)
    return _distinct_fingerprints(results)


def _distinct_fingerprints(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The second and later results with one fingerprint (the same rule twice on one scenario's
    objects) get ``|2``, ``|3``...: each stays an alert of its own, and the first keeps its value."""
    seen: Counter[str] = Counter()
    for result in results:
        fingerprint = result["partialFingerprints"][FINGERPRINT_KEY]
        seen[fingerprint] += 1
        if seen[fingerprint] > 1:
            result["partialFingerprints"][FINGERPRINT_KEY] = f"{fingerprint}|{seen[fingerprint]}"
    return results


def _titles(run: RunResult) -> dict[str, str]:
    """rule id -> the title of one of its alerts in the run (the first), for the rule's description."""
    alerts = [a for o in run.outcomes for a in o.alerts] + (run.soak.alerts if run.soak else [])
    titles: dict[str, str] = {}
    for alert in alerts:
        if alert.get("rule_id") and alert.get("title"):
            titles.setdefault(str(alert["rule_id"]), str(alert["title"]))
    return titles


def _rules(run: RunResult, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every rule a result names, sorted by id; each result gets its rule's ``ruleIndex``."""
    titles = _titles(run)
    rule_ids = sorted({r["ruleId"] for r in results})
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    tags: dict[str, set[str]] = {rule_id: set() for rule_id in rule_ids}
    for result in results:
        result["ruleIndex"] = index[result["ruleId"]]
        tags[result["ruleId"]].update(result["properties"]["tags"])
    return [{"id": rule_id, "shortDescription": {"text": titles.get(rule_id) or rule_id},
             "properties": {"tags": sorted(tags[rule_id])}} for rule_id in rule_ids]


def _notifications(run: RunResult) -> list[dict[str, Any]]:
    """What kept the run from judging something: errors (warning), skips (note), a broken soak, an abort."""
    levels = {Verdict.ERROR: "warning", Verdict.SKIPPED: "note"}
    notes = [{"level": levels[o.verdict], "message": {"text": f"{o.scenario_id}: {o.verdict.value}: {o.reason}"},
              "locations": [scenario_location(o.scenario_id)], "properties": _outcome_properties(run, o)}
             for o in run.outcomes if o.verdict in levels]
    if run.soak is not None and run.soak.status != "complete":
        notes.append({"level": "warning", "message": {"text": f"soak: {run.soak.status}: {run.soak.reason}"},
                      "locations": [soak_location()]})
    if run.status != "complete":
        text = f"the run is {run.status}: what did not run was not judged"
        notes.append({"level": "error", "message": {"text": text}})
    return notes


def _driver(rules: list[dict[str, Any]]) -> dict[str, Any]:
    driver: dict[str, Any] = {"name": TOOL_NAME}
    tool_version = _tool_version()
    if tool_version:
        driver["version"] = tool_version
    driver["rules"] = rules
    return driver


def to_sarif(run: RunResult) -> dict[str, Any]:
    results = _results(run)
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": _driver(_rules(run, results))},
            # No automationDetails: upload-sarif ignores its ``category`` input when the file sets one, and
            # the category (one per backend, say) is the uploader's to choose.
            "originalUriBaseIds": {
                SRCROOT: {"description": {"text": "The root of the repository that holds Stowaway."}},
                SCENARIOROOT: {"description": {"text": "The scenario directory (--scenarios DIR) or scenario pack "
                                                       "the run loaded a scenario from; the run does not record it."}},
            },
            "invocations": [{
                "executionSuccessful": run.passed,
                "startTimeUtc": iso_utc(run.started_at),
                "endTimeUtc": iso_utc(run.finished_at),
                "toolExecutionNotifications": _notifications(run),
                "properties": {"run_id": run.run_id, "status": run.status},
            }],
            "results": results,
            "properties": {"run_id": run.run_id, "attack_version": run.attack_version, "backend": run.backend},
        }],
    }


def write_sarif(run: RunResult, path: str | os.PathLike[str]) -> Path:
    """Write atomically, like the JSON scorecard: an upload step must never read half a file."""
    return write_json_dict(to_sarif(run), path)
