"""ATT&CK Navigator layer (layer format 4.5) scoring each technique by detection coverage or robustness.

Coverage (the default) = the technique's coverage (see json_report), from canonical runs only: 100
when every concluded adversary scenario of it was detected, 0 when none was, in between otherwise.
Robustness = the same share over every concluded adversary run of it, canonical and variants
(``--variants``): how much of the ways the technique was done got detected. Either way the score is
about detection (an unlisted false positive on the same objects is said in the comment, not
scored), and techniques seen only through benign twins or skipped runs are listed with a comment
but no score, so "untested" never reads as "0%".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from harness.outcome import Outcome, RunResult, Verdict
from harness.scorecard.figures import concluded, coverage_score, iso_utc, techniques_of

NAVIGATOR_VERSION = "4.9.1"
LAYER_VERSION = "4.5"
DOMAIN = "enterprise-attack"

# Red (nothing detected) -> amber (partial) -> green (all detected); also used for explicit colours.
GRADIENT_COLORS = ("#e5534b", "#f2c744", "#3fb950")
UNSCORED_COLOR = "#d0d7de"

Score = Literal["coverage", "robustness"]
SCORES: tuple[Score, ...] = ("coverage", "robustness")


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


def _robustness_metadata(outcomes: list[Outcome], score: int | None) -> tuple[str, list[dict[str, str]]]:
    """The comment's first line and the metadata of a technique scored by robustness."""
    judged = [o for o in outcomes if concluded(o)]
    detected = sum(o.verdict is Verdict.DETECTED for o in judged)
    variants = sum(bool(o.variant_of) for o in outcomes)
    canonical = coverage_score([o for o in outcomes if not o.variant_of])
    if score is None:
        head = "robustness not tested: no adversary run (canonical or variant) concluded"
    else:
        head = f"robustness {detected}/{len(judged)} adversary runs (canonical and variants) detected"
    return head, [
        {"name": "scenarios", "value": str(len(outcomes) - variants)},
        {"name": "variants", "value": str(variants)},
        {"name": "robustness", "value": "not tested" if score is None else f"{score}% ({detected}/{len(judged)})"},
        {"name": "coverage", "value": "not tested" if canonical is None else f"{canonical}%"},
    ]


def to_layer(run: RunResult, score: Score = "coverage") -> dict[str, Any]:
    """The layer scored by ``score``: "coverage" (canonical runs) or "robustness" (canonical and variants)."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}, not {score!r}")
    robust = score == "robustness"
    entries: dict[str, dict[str, Any]] = {}
    for technique, outcomes in techniques_of(run.outcomes, variants=robust).items():
        value = coverage_score(outcomes)
        lines = [
            f"{o.scenario_id} [{o.kind}]: {o.verdict.value}"
            + (f" in {o.latency_s:.1f} s" if o.latency_s is not None else "")
            # The score is about detection; a false positive on the same objects is said, not scored.
            + (f" (unlisted collateral: {', '.join(sorted({c.rule_id for c in o.unlisted_collateral}))})"
               if o.unlisted_collateral else "")
            + f" - {o.reason}"
            for o in outcomes
        ]
        if robust:
            head, metadata = _robustness_metadata(outcomes, value)
            lines.insert(0, head)
        else:
            metadata = [
                {"name": "scenarios", "value": str(len(outcomes))},
                {"name": "coverage", "value": "not tested" if value is None else f"{value}%"},
            ]
        entry: dict[str, Any] = {
            "techniqueID": technique,
            "comment": "\n".join(lines),
            "enabled": True,
            "metadata": metadata,
            "showSubtechniques": False,
        }
        if value is not None:
            entry["score"] = value
            entry["color"] = gradient_color(value)
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

    if robust:
        name = f"Stowaway robustness {run.run_id}"
        description = (
            f"Detection robustness from Stowaway run {run.run_id} on backend {run.backend} "
            f"({iso_utc(run.started_at)}). Score = % of concluded adversary runs, canonical and variants, "
            "detected."
        )
        runs = "runs (canonical and variants)"
    else:
        name = f"Stowaway coverage {run.run_id}"
        description = (
            f"Detection coverage from Stowaway run {run.run_id} on backend {run.backend} "
            f"({iso_utc(run.started_at)}). Score = % of concluded adversary scenarios detected."
        )
        runs = "scenarios"
    return {
        "name": name,
        "versions": {
            "attack": str(run.attack_version),
            "navigator": NAVIGATOR_VERSION,
            "layer": LAYER_VERSION,
        },
        "domain": DOMAIN,
        "description": description,
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
            {"label": f"all adversary {runs} detected (100)", "color": GRADIENT_COLORS[2]},
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


def write_layer(run: RunResult, path: str | os.PathLike[str], score: Score = "coverage") -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(to_layer(run, score), indent=2) + "\n", encoding="utf-8")
    return target
