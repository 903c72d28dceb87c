"""Concurrency drill: two full default-suite runs at once on one engine, each with its own scorecard.

Correct means: both runs complete and pass, their run ids differ, each scorecard holds every
scenario once, and no alert in one scorecard concerns an object the other run created.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.bench.report import Figure

Progress = Callable[[str], None]
SHARED = ("file:", "node:")


def problems(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What makes two concurrent runs' scorecards wrong (empty: two correct, separate scorecards)."""
    out = []
    for name, card in (("A", a), ("B", b)):
        if not card:
            out.append(f"run {name} wrote no scorecard")
            continue
        if card.get("status") != "complete":
            out.append(f"run {name} status {card.get('status')}")
        ids = [o["scenario_id"] for o in card.get("outcomes", [])]
        if len(ids) != len(set(ids)):
            out.append(f"run {name} lists a scenario twice")
        # A skip is not a pass, and neither is an adversary whose objects drew unlisted collateral.
        failed = [f"{o['scenario_id']}={o['verdict']}" for o in card.get("outcomes", [])
                  if o["verdict"] not in ("detected", "silent")]
        failed += [f"{o['scenario_id']}=collateral {c['rule_id']}" for o in card.get("outcomes", [])
                   for c in o.get("collateral", []) if not c.get("allowed")]
        if failed:
            out.append(f"run {name} failed: {', '.join(failed)}")
    if a and b:
        if a.get("run_id") == b.get("run_id"):
            out.append("both runs have the same run id")
        if {o["scenario_id"] for o in a["outcomes"]} != {o["scenario_id"] for o in b["outcomes"]}:
            out.append("the runs hold different scenario sets")
        # Host-wide objects (the engine's daemon.json, the swarm node) are one object for every run:
        # both runs alerting on them is expected; per-run objects (containers, services) must not cross.
        objects = [{ref for o in card["outcomes"] for ref in o.get("objects", []) if not ref.startswith(SHARED)}
                   for card in (a, b)]
        for name, card, other in (("A", a, objects[1]), ("B", b, objects[0])):
            crossed = [al["object"] for o in card["outcomes"] for al in o.get("alerts", [])
                       if al["object"] in other and not al["object"].startswith(SHARED)]
            if crossed:
                out.append(f"run {name} holds alerts on the other run's objects: {crossed[:3]}")
    return out


def run(work: Path, progress: Progress) -> list[Figure]:
    progress("drills: two full runs at once on one engine")
    children = []
    for name in ("concurrent-a", "concurrent-b"):
        log = open(work / f"{name}.log", "wb")  # noqa: SIM115 - closed below
        children.append((name, log, subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "--quiet", "--out",
                                                      str(work / name)], stdout=log, stderr=subprocess.STDOUT)))
    codes = {}
    for name, log, child in children:
        codes[name] = child.wait(timeout=3600)
        log.close()
    cards = []
    for name, _, _ in children:
        path = work / name / "scorecard.json"
        cards.append(json.loads(path.read_text()) if path.exists() else {})
    found = problems(cards[0], cards[1])
    detail = {"exits": codes, "run_ids": [c.get("run_id") for c in cards],
              "verdicts": [c.get("summary", {}).get("verdicts") for c in cards], "problems": found,
              "durations_s": [c.get("duration_s") for c in cards]}
    return [Figure("concurrency.two-runs", "two full runs at once on one engine: problems with their scorecards "
                   "(both complete and passing, distinct, no crossed alerts)", len(found), 0, "<=", "problems",
                   detail=detail)]
