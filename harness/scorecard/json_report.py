"""The JSON scorecard: the published, machine-readable form of a run.

Every other format (Markdown, Navigator, JUnit, HTML) and the regression gate read the numbers
computed here, so a figure such as "coverage of T1610" means the same thing everywhere.

Definitions used throughout:

* An adversary scenario *concluded* when its verdict is detected or missed. Errors and skips say
  nothing about the detectors, so they are kept out of detection rates and coverage scores.
* ``detection_rate`` = detected / concluded adversary scenarios (null when none concluded).
* A technique's ``coverage`` = round(100 * detected / concluded adversary scenarios of that
  technique), null when no adversary scenario of it concluded (only benign twins, or only skips).
* Latency statistics cover detected adversary scenarios only; p95 uses the nearest-rank method,
  which never invents a value that was not measured.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.outcome import Outcome, RuleResult, RunResult, Verdict, Visibility

SCHEMA_VERSION = "1.0"
SCHEMA_PATH = Path(__file__).with_name("schema") / "scorecard.schema.json"


class ScorecardFormatError(ValueError):
    """A scorecard dict does not have the published shape. ``field`` is a path like outcomes[2].verdict."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


# --- derived figures, shared by every format -------------------------------------------------


def iso_utc(epoch: float) -> str:
    """ISO 8601 in UTC with a Z suffix, the form CI systems and jq users expect."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def concluded(outcome: Outcome) -> bool:
    return outcome.kind == "adversary" and outcome.verdict in (Verdict.DETECTED, Verdict.MISSED)


def coverage_score(outcomes: list[Outcome]) -> int | None:
    """0-100 share of concluded adversary scenarios detected; None when none concluded."""
    judged = [o for o in outcomes if concluded(o)]
    if not judged:
        return None
    detected = sum(o.verdict is Verdict.DETECTED for o in judged)
    return round(100 * detected / len(judged))


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile: with few samples it reports a real measurement, not an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def detection_latencies(outcomes: list[Outcome]) -> list[float]:
    return [
        o.latency_s
        for o in outcomes
        if o.kind == "adversary" and o.verdict is Verdict.DETECTED and o.latency_s is not None
    ]


def false_positive_rules(outcomes: list[Outcome]) -> dict[str, list[str]]:
    """rule id -> scenario ids of benign scenarios on which that rule fired."""
    by_rule: dict[str, list[str]] = {}
    for outcome in outcomes:
        if outcome.verdict is not Verdict.FALSE_POSITIVE:
            continue
        fired = {r.rule_id for r in outcome.rules if r.fired}
        # A false positive verdict without a fired rule result still came from an alert.
        fired |= {str(a.get("rule_id")) for a in outcome.alerts if a.get("rule_id")}
        for rule_id in sorted(fired) or ["(unknown rule)"]:
            by_rule.setdefault(rule_id, []).append(outcome.scenario_id)
    return dict(sorted(by_rule.items()))


def techniques_of(outcomes: list[Outcome]) -> dict[str, list[Outcome]]:
    """technique id -> outcomes that exercise it (or, for benign twins, imitate it), sorted by id."""
    by_technique: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        for technique in outcome.techniques:
            by_technique.setdefault(technique, []).append(outcome)
    return dict(sorted(by_technique.items()))


def summarize(run: RunResult) -> dict[str, Any]:
    outcomes = run.outcomes
    counts = Counter(o.verdict.value for o in outcomes)
    adversary = [o for o in outcomes if o.kind == "adversary"]
    judged = [o for o in adversary if concluded(o)]
    detected = sum(o.verdict is Verdict.DETECTED for o in judged)
    latencies = detection_latencies(outcomes)
    median = statistics.median(latencies) if latencies else None
    return {
        "total": len(outcomes),
        "verdicts": {v.value: counts.get(v.value, 0) for v in Verdict},
        "adversary": len(adversary),
        "benign": sum(o.kind == "benign" for o in outcomes),
        "adversary_concluded": len(judged),
        "detection_rate": (detected / len(judged)) if judged else None,
        "false_positives": counts.get(Verdict.FALSE_POSITIVE.value, 0),
        "false_positive_rules": false_positive_rules(outcomes),
        "passed": run.passed,
        "latency_median_s": _seconds(median),
        "latency_p95_s": _seconds(percentile(latencies, 95)),
    }


def _seconds(value: float | None) -> float | None:
    # Millisecond precision: more digits are float noise (a median of 2.1 and 3.2 is 2.65, not 2.6500000004).
    return None if value is None else round(value, 3)


def technique_rows(run: RunResult) -> list[dict[str, Any]]:
    rows = []
    for technique, outcomes in techniques_of(run.outcomes).items():
        counts = Counter(o.verdict.value for o in outcomes)
        rows.append(
            {
                "technique": technique,
                "scenarios": [o.scenario_id for o in outcomes],
                "verdicts": {v.value: counts.get(v.value, 0) for v in Verdict},
                "adversary": sum(o.kind == "adversary" for o in outcomes),
                "benign": sum(o.kind == "benign" for o in outcomes),
                "coverage": coverage_score(outcomes),
            }
        )
    return rows


# --- render and parse ------------------------------------------------------------------------


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
        "outcomes": [o.to_dict() for o in run.outcomes],
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
    return RunResult(
        run_id=_get(data, "run_id", str, "run_id"),
        attack_version=_get(data, "attack_version", str, "attack_version"),
        backend=_get(data, "backend", str, "backend"),
        started_at=float(_get(data, "started_at_epoch", (int, float), "started_at_epoch")),
        finished_at=float(_get(data, "finished_at_epoch", (int, float), "finished_at_epoch")),
        outcomes=[_outcome(row, f"outcomes[{i}]") for i, row in enumerate(rows)],
        status=_get(data, "status", str, "status"),
        environment=environment,
    )


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
    return Outcome(
        scenario_id=_get(row, "scenario_id", str, f"{where}.scenario_id"),
        title=_get(row, "title", str, f"{where}.title"),
        kind=_get(row, "kind", str, f"{where}.kind"),
        techniques=list(techniques),
        backend=_get(row, "backend", str, f"{where}.backend"),
        verdict=verdict,
        reason=_get(row, "reason", str, f"{where}.reason"),
        visibility=visibility,
        started_at=float(row.get("started_at", 0.0) or 0.0),
        action_at=_optional_number(row.get("action_at"), f"{where}.action_at"),
        finished_at=float(row.get("finished_at", 0.0) or 0.0),
        latency_s=_optional_number(row.get("latency_s"), f"{where}.latency_s"),
        rules=[_rule(r, f"{where}.rules[{j}]") for j, r in enumerate(rules_raw)],
        alerts=_list_of(row, "alerts", dict, where),
        data_sources=_list_of(row, "data_sources", str, where),
        objects=_list_of(row, "objects", str, where),
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
