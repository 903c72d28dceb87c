"""ATT&CK Navigator layer, format 4.5, checked against the format's required keys and types offline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from scorecard_fixtures import UNLISTED_ID, UNLISTED_RULE, judged_run, make_run

from harness.outcome import Verdict
from harness.scorecard import navigator
from harness.scorecard.navigator import GRADIENT_COLORS, LAYER_VERSION, NAVIGATOR_VERSION, gradient_color, to_layer

HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")


def validate_layer_45(layer: dict[str, Any]) -> list[str]:
    """The parts of Navigator's layer format 4.5 a viewer relies on; returns the problems found."""
    problems = []

    def expect(cond: bool, message: str) -> None:
        if not cond:
            problems.append(message)

    for key, kind in (("name", str), ("versions", dict), ("domain", str)):
        expect(isinstance(layer.get(key), kind), f"required {key} must be {kind.__name__}")
    versions = layer.get("versions", {})
    expect(versions.get("layer") == "4.5", "versions.layer must be '4.5'")
    expect(isinstance(versions.get("attack"), str), "versions.attack must be a string")
    expect(isinstance(versions.get("navigator"), str), "versions.navigator must be a string")
    expect(layer.get("domain") in ("enterprise-attack", "mobile-attack", "ics-attack"), "domain")
    expect(isinstance(layer.get("description", ""), str), "description must be a string")
    expect(isinstance(layer.get("sorting", 0), int) and layer.get("sorting", 0) in range(4), "sorting 0-3")
    expect(isinstance(layer.get("hideDisabled", False), bool), "hideDisabled must be bool")
    layout = layer.get("layout", {})
    expect(layout.get("layout", "side") in ("side", "flat", "mini"), "layout.layout")
    expect(
        layout.get("expandedSubtechniques", "none") in ("none", "annotated", "all"), "expandedSubtechniques"
    )
    for i, tech in enumerate(layer.get("techniques", [])):
        expect(
            isinstance(tech.get("techniqueID"), str) and bool(TECHNIQUE_ID.match(tech["techniqueID"])),
            f"techniques[{i}].techniqueID",
        )
        if "score" in tech:
            expect(
                isinstance(tech["score"], (int, float)) and not isinstance(tech["score"], bool),
                f"techniques[{i}].score",
            )
        if "color" in tech:
            expect(bool(HEX.match(tech["color"])), f"techniques[{i}].color")
        for key in ("enabled", "showSubtechniques"):
            expect(isinstance(tech.get(key, True), bool), f"techniques[{i}].{key}")
        expect(isinstance(tech.get("comment", ""), str), f"techniques[{i}].comment")
        for entry in tech.get("metadata", []):
            expect(
                isinstance(entry.get("name"), str) and isinstance(entry.get("value"), str),
                f"techniques[{i}].metadata",
            )
    gradient = layer.get("gradient", {})
    expect(
        all(HEX.match(c) for c in gradient.get("colors", [])) and len(gradient.get("colors", [])) >= 2,
        "gradient.colors",
    )
    expect(
        isinstance(gradient.get("minValue"), (int, float))
        and isinstance(gradient.get("maxValue"), (int, float)),
        "gradient min/max",
    )
    for item in layer.get("legendItems", []):
        expect(isinstance(item.get("label"), str) and bool(HEX.match(item.get("color", ""))), "legendItems")
    for entry in layer.get("metadata", []):
        expect(isinstance(entry.get("name"), str) and isinstance(entry.get("value"), str), "metadata")
    return problems


def _by_id(layer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["techniqueID"]: t for t in layer["techniques"]}


def test_layer_is_valid_45_and_json_serialisable() -> None:
    layer = to_layer(make_run())
    assert validate_layer_45(layer) == []
    assert json.loads(json.dumps(layer)) == layer
    assert layer["versions"] == {"attack": "18", "navigator": NAVIGATOR_VERSION, "layer": LAYER_VERSION}
    assert layer["domain"] == "enterprise-attack"


def test_the_navigator_version_is_written_in_one_place() -> None:
    # versions.navigator comes from NAVIGATOR_VERSION alone: no other source, doc or test spells it
    # out (the layers under reports/ are generated from it).
    root = Path(__file__).resolve().parents[2]
    spelled = [str(path.relative_to(root)) for folder in ("harness", "docs", "tests", "examples")
               for path in (root / folder).rglob("*") if path.suffix in {".py", ".md", ".json", ".yml", ".yaml"}
               and path.is_file() and f'"{NAVIGATOR_VERSION}"' in path.read_text(encoding="utf-8", errors="replace")]
    assert spelled == [str(Path(navigator.__file__).resolve().relative_to(root))]


def test_validator_catches_a_broken_layer() -> None:
    layer = to_layer(make_run())
    layer["versions"]["layer"] = "4.4"
    layer["techniques"][0]["score"] = "high"
    assert len(validate_layer_45(layer)) == 2


def test_scores_follow_coverage() -> None:
    techniques = _by_id(to_layer(make_run()))
    assert techniques["T1562.001"]["score"] == 100
    assert techniques["T1036.005"]["score"] == 50
    assert techniques["T1036.005"]["color"] == gradient_color(50) == GRADIENT_COLORS[1]


def test_all_missed_scores_zero_and_is_red() -> None:
    run = make_run()
    for outcome in run.outcomes:
        if outcome.kind == "adversary" and "T1496" in outcome.techniques:
            outcome.verdict = Verdict.MISSED
    t1496 = _by_id(to_layer(run))["T1496"]
    assert t1496["score"] == 0 and t1496["color"] == GRADIENT_COLORS[0]


def test_subtechnique_parents_are_expanded() -> None:
    techniques = _by_id(to_layer(make_run()))
    assert techniques["T1562"]["showSubtechniques"] is True
    assert techniques["T1036"]["showSubtechniques"] is True
    assert "score" not in techniques["T1562"]  # the parent itself was not tested
    assert techniques["T1610"]["showSubtechniques"] is False


def test_comment_lists_each_scenario_outcome_and_metadata_has_run_id() -> None:
    layer = to_layer(make_run("run-xyz"))
    comment = _by_id(layer)["T1036.005"]["comment"]
    assert "docker.masquerade.kworker-from-tmp [adversary]: missed" in comment
    assert "docker.masquerade.real-nginx [benign]: silent" in comment
    assert {"name": "run_id", "value": "run-xyz"} in layer["metadata"]
    assert len(layer["legendItems"]) == 3


def test_judged_run_with_collateral_and_soak_keeps_the_layer_valid() -> None:
    layer = to_layer(judged_run())
    assert validate_layer_45(layer) == []
    comment = _by_id(layer)["T1036.005"]["comment"]
    assert f"{UNLISTED_ID} [adversary]: detected in 0.6 s (unlisted collateral: {UNLISTED_RULE})" in comment
    assert _by_id(layer)["T1036.005"]["score"] == 50  # coverage stays about detection
