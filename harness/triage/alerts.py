"""Loading a recorded run's alerts (its scorecard, or a replay) and the detector's documentation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from detectors.alert import Alert
from harness.triage.model import ROOT, DetectorDoc, RunAlert, TriageError

# --- loading: alerts ----------------------------------------------------------------------------------

SCORECARD = "scorecard.json"
FROM_SCORECARD = "scorecard.json beside the recording (the alerts as the run raised them)"
FROM_REPLAY_SCORECARD = "scorecard.json beside the recording, written by `stowaway replay` (the alerts of that replay)"
FROM_REPLAY = ("a replay of the recording with today's shipped rules and policy (no scorecard.json beside it; "
               "`stowaway replay` judges the same way)")


def _alert(raw: Any, where: str) -> Alert:
    if not isinstance(raw, dict):
        raise TriageError(f"{where}: expected an alert object")
    try:
        first_seen = float(raw["first_seen"])
        raised_at = raw.get("raised_at")
        return Alert(rule_id=str(raw["rule_id"]), title=str(raw.get("title", "")),
                     severity=str(raw.get("severity", "")), techniques=tuple(raw.get("techniques") or ()),
                     object=str(raw["object"]), evidence=tuple(str(e) for e in raw.get("evidence") or ()),
                     first_seen=first_seen, raised_at=first_seen if raised_at is None else float(raised_at),
                     response=str(raw.get("response", "")), source=str(raw.get("source", "")),
                     data_source=str(raw.get("data_source", "")), context=dict(raw.get("context") or {}))
    except KeyError as exc:
        raise TriageError(f"{where}.{exc.args[0]}: missing") from None
    except (TypeError, ValueError) as exc:
        raise TriageError(f"{where}: {exc}") from None


def gather(outcomes: Iterable[tuple[str, Sequence[Any]]], where: str = "outcomes") -> list[RunAlert]:
    """Every alert of ``(scenario id, alert dicts)`` pairs once (an alert attributed to two outcomes
    is one alert of both), in the order they were raised."""
    merged: dict[tuple[str, str, float], tuple[Alert, list[str]]] = {}
    for i, (scenario_id, rows) in enumerate(outcomes):
        for j, raw in enumerate(rows):
            alert = _alert(raw, f"{where}[{i}].alerts[{j}]")
            key = (alert.rule_id, alert.object, alert.first_seen)
            entry = merged.setdefault(key, (alert, []))
            if scenario_id not in entry[1]:
                entry[1].append(scenario_id)
    ordered = sorted(merged.values(), key=lambda e: (e[0].raised_at, e[0].rule_id, e[0].object))
    return [RunAlert(alert, tuple(scenarios)) for alert, scenarios in ordered]


def load_alerts(run: Any) -> tuple[list[RunAlert], str]:
    """The run's alerts: from ``scorecard.json`` beside the recording, else from a replay of it with
    the shipped rules and policy (a policy given to explain-alert is what section 5 asks, so that a
    draft sanction can be tried on an alert the shipped policy raised). ``run`` is a
    ``harness.replay.RecordedRun``. Raises TriageError naming the scorecard's field."""
    path = Path(run.directory) / SCORECARD
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise TriageError(f"{path}: not JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("outcomes"), list):
            raise TriageError(f"{path}: field outcomes: missing, or not a list")
        # `stowaway replay RUN_DIR --out RUN_DIR` writes its scorecard there too, as run "replay-<id>".
        replayed = data.get("run_id") == f"replay-{run.run_id}"
        if data.get("run_id") != run.run_id and not replayed:
            raise TriageError(f"{path}: field run_id: {data.get('run_id')!r} is another run than run.json's "
                              f"{run.run_id!r}")
        rows = [(str(o.get("scenario_id", "?")), o.get("alerts") or []) for o in data["outcomes"]
                if isinstance(o, dict)]
        return gather(rows, f"{path}: field outcomes"), FROM_REPLAY_SCORECARD if replayed else FROM_SCORECARD
    from harness.replay import replay_run

    result = replay_run(run)
    return gather((o.scenario_id, o.alerts) for o in result.outcomes), FROM_REPLAY


# --- loading: the detector ----------------------------------------------------------------------------


def _detection_fields(node: Any) -> list[str]:
    """Every ``policy.*`` field a Sigma detection block names, in order, without modifiers."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            name = key.split("|")[0] if isinstance(key, str) else ""
            if name.startswith("policy.") and name not in found:
                found.append(name)
            found += [f for f in _detection_fields(value) if f not in found]
    elif isinstance(node, list):
        for item in node:
            found += [f for f in _detection_fields(item) if f not in found]
    return found


def load_detector(rule_id: str, rule_dirs: Sequence[Path] = ()) -> DetectorDoc:
    """The detector's false positives, benign twins and policy reads: what its ADS document is made
    from (``harness/ads.py``), read from the same sources."""
    from detectors.analytics import FACTORIES
    from harness.ads import validation_scenarios
    from harness.detector_catalog import all_detectors
    from scenarios.registry import load

    info = all_detectors(rule_dirs).get(rule_id)
    document = ROOT / "docs" / "detections" / f"{rule_id.replace('/', '_')}.md"
    shown_document = str(document.relative_to(ROOT)) if document.exists() else None
    if info is None:
        return DetectorDoc(rule_id, "unknown", "", "(not among the loaded detectors)", shown_document, (), (), None)
    twins = tuple(validation_scenarios(rule_id, load())["silent"])
    reads: tuple[str, ...] | None
    if info.kind == "sigma":
        reads = tuple(_detection_fields(info.detection))
    else:
        factory = next((f for f in FACTORIES if f.rule_id == rule_id), None)
        declared = getattr(factory, "reads", None)
        extra = [f for fields in (getattr(factory, "reads_on", None) or {}).values() for f in fields]
        reads = None if declared is None else tuple(dict.fromkeys([*declared, *extra]))
    return DetectorDoc(rule_id, info.kind, info.title, _relative(info.source), shown_document,
                       tuple(info.falsepositives), twins, reads)


def _relative(source: str) -> str:
    try:
        return str(Path(source).resolve().relative_to(ROOT))
    except (ValueError, OSError):
        return source


