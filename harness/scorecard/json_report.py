"""The JSON scorecard: the published, machine-readable form of a run.

Every other format (Markdown, Navigator, JUnit, HTML) and the regression gate read the numbers
computed in ``harness.scorecard.figures``, so a figure such as "coverage of T1610" means the same
thing everywhere. The definitions:

* An adversary scenario *concluded* when its verdict is detected or missed. Errors and skips say
  nothing about the detectors, so they are kept out of detection rates and coverage scores.
* ``detection_rate`` = detected / concluded adversary scenarios (null when none concluded).
* The summary and coverage count canonical runs only, so a run reads the same with or without
  ``--variants``; variant rows (``variant_of``) get the summary's figures of their own under
  ``summary.variants``, and their robustness in the Markdown and HTML reports. Precision counts
  every alert, a variant's included, and ``passed``/``state`` count every row.
* A technique's ``coverage`` = round(100 * detected / concluded adversary scenarios of that
  technique), null when no adversary scenario of it concluded (only benign twins, or only skips).
* Latency statistics cover detected adversary scenarios only; p95 uses the nearest-rank method,
  which never invents a value that was not measured.
* Per-rule precision counts alerts (the monitor already deduplicates them per rule and object).
  True positives of a rule: its alerts on adversary objects when the scenario expects it
  (``fires``) or allows it (``may_fire``, allowed collateral). False positives: its alerts on
  benign twins, during the soak (the benign fleet), and on adversary objects when the scenario
  neither expects nor allows it (unlisted collateral). ``precision`` = TP / (TP + FP), null when
  the rule raised nothing. Every rule that raised anything in the run has a row.
* ``state``: ``pass`` when everything passed; ``incomplete`` when the only thing short of a pass
  is skipped scenarios (nothing was found wrong, but not everything ran); ``fail`` otherwise.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from harness.external.grading import DetectorReport, report_from_dict
from harness.outcome import (
    Collateral,
    FleetService,
    Outcome,
    ResponseResult,
    RuleResult,
    RunResult,
    SoakResult,
    Verdict,
    Visibility,
)
from harness.scorecard.figures import (  # re-exported: every format reads its figures from here
    iso_utc,
    rule_precision,
    summarize,
    technique_rows,
)

# 1.1: per-rule precision, collateral on each outcome, the soak, the run's state. 1.0 files
# (without them) are still read: see from_json.
# 1.2: variant rows (variant_of, variant) and their robustness; 1.3: external detectors (``external``)
SCHEMA_VERSION = "1.4"
SCHEMA_PATH = Path(__file__).with_name("schema") / "scorecard.schema.json"


class ScorecardFormatError(ValueError):
    """A scorecard dict does not have the published shape. ``field`` is a path like outcomes[2].verdict."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def to_json(run: RunResult) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.run_id,
        "status": run.status,
        "attack_version": run.attack_version,
        "backend": run.backend,
        "started_at": iso_utc(run.started_at),
        "started_at_epoch": run.started_at,
        "finished_at": iso_utc(run.finished_at),
        "finished_at_epoch": run.finished_at,
        "duration_s": max(0.0, run.finished_at - run.started_at),
        "environment": run.environment,
        "summary": summarize(run),
        "techniques": technique_rows(run),
        "rule_precision": [r.to_dict() for r in rule_precision(run)],
        "outcomes": [{**o.to_dict(), "passed": o.passed} for o in run.outcomes],
        "soak": None if run.soak is None else soak_dict(run.soak),
        "external": [report.to_dict() for report in run.external],
    }


def soak_dict(soak: SoakResult) -> dict[str, Any]:
    return {
        "minutes": soak.minutes,
        "started_at": iso_utc(soak.started_at),
        "started_at_epoch": soak.started_at,
        "finished_at": iso_utc(soak.finished_at),
        "finished_at_epoch": soak.finished_at,
        "status": soak.status,
        "reason": soak.reason,
        "passed": soak.passed,
        "services": [asdict(service) for service in soak.services],
        "alerts": list(soak.alerts),
    }


def write_json(run: RunResult, path: str | os.PathLike[str]) -> Path:
    return write_json_dict(to_json(run), path)


def write_json_dict(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write atomically: a CI job killed mid-write must not leave half a baseline behind."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a scorecard is meant to be read by CI and people
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a scorecard file. Raises OSError, or ScorecardFormatError naming what is wrong."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScorecardFormatError("(document)", f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ScorecardFormatError("(document)", f"expected an object, got {type(data).__name__}")
    return data


def from_json(data: dict[str, Any]) -> RunResult:
    """Rebuild the RunResult. Derived sections (summary, techniques) are ignored, not trusted.

    Raises ScorecardFormatError naming the first field that is missing or of the wrong type.
    """
    if not isinstance(data, dict):
        raise ScorecardFormatError("(document)", f"expected an object, got {type(data).__name__}")
    version = _get(data, "schema_version", str, "schema_version")
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ScorecardFormatError(
            "schema_version", f"{version!r} is not readable (this reads {SCHEMA_VERSION})"
        )
    rows = _get(data, "outcomes", list, "outcomes")
    environment = data.get("environment", {})
    if not isinstance(environment, dict):
        raise ScorecardFormatError("environment", "expected an object")
    soak = data.get("soak")
    return RunResult(
        run_id=_get(data, "run_id", str, "run_id"),
        attack_version=_get(data, "attack_version", str, "attack_version"),
        backend=_get(data, "backend", str, "backend"),
        started_at=float(_get(data, "started_at_epoch", (int, float), "started_at_epoch")),
        finished_at=float(_get(data, "finished_at_epoch", (int, float), "finished_at_epoch")),
        outcomes=[_outcome(row, f"outcomes[{i}]") for i, row in enumerate(rows)],
        status=_get(data, "status", str, "status"),
        environment=environment,
        soak=None if soak is None else _soak(soak, "soak"),  # 1.0 scorecards have no soak
        external=_external(data.get("external", [])),  # before 1.3: none
    )


def _external(raw: Any) -> list[DetectorReport]:
    if not isinstance(raw, list):
        raise ScorecardFormatError("external", "expected a list")
    try:
        return [report_from_dict(item, f"external[{i}]") for i, item in enumerate(raw)]
    except ValueError as exc:
        where, _, problem = str(exc).partition(": ")
        raise ScorecardFormatError(where, problem) from None


def _soak(raw: Any, where: str) -> SoakResult:
    if not isinstance(raw, dict):
        raise ScorecardFormatError(where, "expected an object or null")
    services = _get(raw, "services", list, f"{where}.services")
    return SoakResult(
        minutes=float(_get(raw, "minutes", (int, float), f"{where}.minutes")),
        started_at=float(_get(raw, "started_at_epoch", (int, float), f"{where}.started_at_epoch")),
        finished_at=float(_get(raw, "finished_at_epoch", (int, float), f"{where}.finished_at_epoch")),
        status=_get(raw, "status", str, f"{where}.status"),
        reason=_get(raw, "reason", str, f"{where}.reason"),
        services=[_service(s, f"{where}.services[{i}]") for i, s in enumerate(services)],
        alerts=_list_of(raw, "alerts", dict, where),
    )


def _service(raw: Any, where: str) -> FleetService:
    if not isinstance(raw, dict):
        raise ScorecardFormatError(where, "expected an object")
    return FleetService(
        name=_get(raw, "name", str, f"{where}.name"),
        does=_get(raw, "does", str, f"{where}.does"),
        objects=_list_of(raw, "objects", str, where),
        checks=_list_of(raw, "checks", str, where),
        healthy=_get(raw, "healthy", bool, f"{where}.healthy"),
    )


def _optional_string(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ScorecardFormatError(where, "expected a string or null")
    return value


def _outcome(row: Any, where: str) -> Outcome:
    if not isinstance(row, dict):
        raise ScorecardFormatError(where, "expected an object")
    verdict = _enum(Verdict, _get(row, "verdict", str, f"{where}.verdict"), f"{where}.verdict")
    visibility_raw = row.get("visibility", Visibility.NONE.value)
    visibility = _enum(Visibility, visibility_raw, f"{where}.visibility")
    techniques = _get(row, "techniques", list, f"{where}.techniques")
    if not all(isinstance(t, str) for t in techniques):
        raise ScorecardFormatError(f"{where}.techniques", "expected a list of technique id strings")
    rules_raw = row.get("rules", [])
    if not isinstance(rules_raw, list):
        raise ScorecardFormatError(f"{where}.rules", "expected a list")
    rules = [_rule(r, f"{where}.rules[{j}]") for j, r in enumerate(rules_raw)]
    kind = _get(row, "kind", str, f"{where}.kind")
    alerts = _list_of(row, "alerts", dict, where)
    if "collateral" in row:
        collateral_raw = _get(row, "collateral", list, f"{where}.collateral")
        collateral = [_collateral(c, f"{where}.collateral[{j}]") for j, c in enumerate(collateral_raw)]
    else:
        collateral = _collateral_before_1_1(kind, rules, alerts)
    return Outcome(
        scenario_id=_get(row, "scenario_id", str, f"{where}.scenario_id"),
        title=_get(row, "title", str, f"{where}.title"),
        kind=kind,
        techniques=list(techniques),
        backend=_get(row, "backend", str, f"{where}.backend"),
        verdict=verdict,
        reason=_get(row, "reason", str, f"{where}.reason"),
        visibility=visibility,
        started_at=float(row.get("started_at", 0.0) or 0.0),
        action_at=_optional_number(row.get("action_at"), f"{where}.action_at"),
        finished_at=float(row.get("finished_at", 0.0) or 0.0),
        latency_s=_optional_number(row.get("latency_s"), f"{where}.latency_s"),
        rules=rules,
        alerts=alerts,
        data_sources=_list_of(row, "data_sources", str, where),
        objects=_list_of(row, "objects", str, where),
        collateral=collateral,
        variant_of=_optional_string(row.get("variant_of"), f"{where}.variant_of"),
        variant=dict(_get(row, "variant", dict, f"{where}.variant")) if "variant" in row else {},
        known_blind_spot=_optional_string(row.get("known_blind_spot"), f"{where}.known_blind_spot"),
        response=_response(row.get("response"), f"{where}.response"),
        triage=_list_of(row, "triage", dict, where) if "triage" in row else [],
    )


_RESPONSE_FIELDS = {f.name for f in fields(ResponseResult)}


def _response(raw: Any, where: str) -> ResponseResult | None:
    """``run --respond``'s result for an outcome (absent before 1.3, null when none ran)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ScorecardFormatError(where, "expected an object or null")
    for key in ("playbook", "trigger", "object", "action"):
        _get(raw, key, str, f"{where}.{key}")
    _get(raw, "alert_at", (int, float), f"{where}.alert_at")
    return ResponseResult(**{k: v for k, v in raw.items() if k in _RESPONSE_FIELDS})


def _collateral_before_1_1(kind: str, rules: list[RuleResult], alerts: list[dict[str, Any]]) -> list[Collateral]:
    """A 1.0 scorecard kept every alert but did not judge those from unexpected rules. Before
    may_fire existed no scenario listed any, so each such alert on an adversary is unlisted
    collateral: exactly what the gate needs to tell a known one from a new one."""
    if kind != "adversary":
        return []
    expected = {r.rule_id for r in rules}
    found = sorted((str(a.get("rule_id", "")), str(a.get("object", ""))) for a in alerts)
    return [Collateral(rule_id=rule_id, object=obj, allowed=False)
            for rule_id, obj in found if rule_id and rule_id not in expected]


def _collateral(raw: Any, where: str) -> Collateral:
    if not isinstance(raw, dict):
        raise ScorecardFormatError(where, "expected an object")
    return Collateral(
        rule_id=_get(raw, "rule_id", str, f"{where}.rule_id"),
        object=_get(raw, "object", str, f"{where}.object"),
        allowed=_get(raw, "allowed", bool, f"{where}.allowed"),
        reason=str(raw.get("reason", "")),
    )


def _rule(raw: Any, where: str) -> RuleResult:
    if not isinstance(raw, dict):
        raise ScorecardFormatError(where, "expected an object")
    return RuleResult(
        rule_id=_get(raw, "rule_id", str, f"{where}.rule_id"),
        fired=_get(raw, "fired", bool, f"{where}.fired"),
        latency_s=_optional_number(raw.get("latency_s"), f"{where}.latency_s"),
        alert_count=int(raw.get("alert_count", 0)),
    )


def _get(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ScorecardFormatError(where, "missing")
    value = data[key]
    # bool is an int in Python; a number field holding true is still a broken file.
    if not isinstance(value, kind) or (kind in ((int, float), int) and isinstance(value, bool)):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ScorecardFormatError(where, f"expected {expected}, got {type(value).__name__} {value!r}")
    return value


def _list_of(row: dict[str, Any], key: str, kind: type, where: str) -> list[Any]:
    value = row.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
        raise ScorecardFormatError(f"{where}.{key}", f"expected a list of {kind.__name__}")
    return list(value)


def _optional_number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScorecardFormatError(where, f"expected a number or null, got {value!r}")
    return float(value)


def _enum(enum_type: type[Verdict] | type[Visibility], value: Any, where: str) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_type)
        raise ScorecardFormatError(where, f"{value!r} is not one of: {allowed}") from None
