"""ATT&CK Navigator layer (layer format 4.5) scoring each technique by detection coverage.

Score = the technique's coverage (see json_report): 100 when every concluded adversary scenario of
it was detected, 0 when none was, in between otherwise. Techniques seen only through benign twins
or skipped scenarios are listed with a comment but no score, so "untested" never reads as "0%".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.outcome import RunResult
from harness.scorecard.figures import coverage_score, iso_utc, techniques_of

NAVIGATOR_VERSION = "4.9.1"
LAYER_VERSION = "4.5"
DOMAIN = "enterprise-attack"

# Red (nothing detected) -> amber (partial) -> green (all detected); also used for explicit colours.
GRADIENT_COLORS = ("#e5534b", "#f2c744", "#3fb950")
UNSCORED_COLOR = "#d0d7de"


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def gradient_color(score: float, colors: tuple[str, ...] = GRADIENT_COLORS) -> str:
    """The colour Navigator's gradient gives ``score`` (0-100), spelled out so other viewers agree."""
    score = min(100.0, max(0.0, score))
    position = score / 100 * (len(colors) - 1)
    low = min(int(position), len(colors) - 2)
    frac = position - low
    a, b = _hex_to_rgb(colors[low]), _hex_to_rgb(colors[low + 1])
    mixed = (round(x + (y - x) * frac) for x, y in zip(a, b, strict=True))
    return "#" + "".join(f"{c:02x}" for c in mixed)


def to_layer(run: RunResult) -> dict[str, Any]:
    entries: dict[str, dict[str, Any]] = {}
    for technique, outcomes in techniques_of(run.outcomes).items():
        score = coverage_score(outcomes)
        lines = [
            f"{o.scenario_id} [{o.kind}]: {o.verdict.value}"
            + (f" in {o.latency_s:.1f} s" if o.latency_s is not None else "")
            # The score is about detection; a false positive on the same objects is said, not scored.
            + (f" (unlisted collateral: {', '.join(sorted({c.rule_id for c in o.unlisted_collateral}))})"
               if o.unlisted_collateral else "")
            + f" - {o.reason}"
            for o in outcomes
        ]
        entry: dict[str, Any] = {
            "techniqueID": technique,
            "comment": "\n".join(lines),
            "enabled": True,
            "metadata": [
                {"name": "scenarios", "value": str(len(outcomes))},
                {"name": "coverage", "value": "not tested" if score is None else f"{score}%"},
            ],
            "showSubtechniques": False,
        }
        if score is not None:
            entry["score"] = score
            entry["color"] = gradient_color(score)
        entries[technique] = entry

    # A scored sub-technique is hidden unless its parent is expanded; add or flag the parent.
    for technique in list(entries):
        if "." not in technique:
            continue
        parent = technique.split(".")[0]
        if parent not in entries:
            entries[parent] = {
                "techniqueID": parent,
                "comment": f"Parent of scored sub-technique(s); see {technique}.",
                "enabled": True,
                "showSubtechniques": True,
            }
        else:
            entries[parent]["showSubtechniques"] = True

    return {
        "name": f"Stowaway coverage {run.run_id}",
        "versions": {
            "attack": str(run.attack_version),
            "navigator": NAVIGATOR_VERSION,
            "layer": LAYER_VERSION,
        },
        "domain": DOMAIN,
        "description": (
            f"Detection coverage from Stowaway run {run.run_id} on backend {run.backend} "
            f"({iso_utc(run.started_at)}). Score = % of concluded adversary scenarios detected."
        ),
        "filters": {"platforms": ["Linux", "Containers"]},
        "sorting": 3,  # by score, descending: gaps sink, covered techniques rise
        "layout": {
            "layout": "side",
            "aggregateFunction": "average",
            "showID": True,
            "showName": True,
            "showAggregateScores": False,
            "countUnscored": False,
            "expandedSubtechniques": "annotated",
        },
        "hideDisabled": False,
        "techniques": [entries[key] for key in sorted(entries)],
        "gradient": {"colors": list(GRADIENT_COLORS), "minValue": 0, "maxValue": 100},
        "legendItems": [
            {"label": "all adversary scenarios detected (100)", "color": GRADIENT_COLORS[2]},
            {"label": "partially detected", "color": GRADIENT_COLORS[1]},
            {"label": "none detected (0)", "color": GRADIENT_COLORS[0]},
        ],
        "metadata": [
            {"name": "run_id", "value": run.run_id},
            {"name": "status", "value": run.status},
            {"name": "backend", "value": run.backend},
            {"name": "attack_version", "value": str(run.attack_version)},
            {"name": "generated_by", "value": "stowaway"},
        ],
        "links": [],
        "showTacticRowBackground": False,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
    }


def write_layer(run: RunResult, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(to_layer(run), indent=2) + "\n", encoding="utf-8")
    return target
