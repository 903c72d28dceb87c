"""Two `stowaway run` processes started at once on the same private engine.

Both must complete, each with its own run id and its own outcomes, attributed only to its own
objects, and neither may leave anything behind. The default selection is the logging pair (an
adversary and its twin, so each run has both verdict kinds); STOWAWAY_CONCURRENT_ALL=1 runs the
whole suite twice at once instead.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from lab.bookkeeping import RunRecord
from lab.paths import LabPaths
from tests.integration.cli_helpers import LOGGING_PAIR, ROOT, environment, run_leftovers, scorecard, stowaway_command

pytestmark = pytest.mark.integration


def _container_refs(outcome: dict) -> set[str]:
    return {ref for ref in outcome["objects"] if ref.startswith("container:")}


def test_two_runs_at_once_complete_with_separate_results(tmp_path):
    selection = [] if os.environ.get("STOWAWAY_CONCURRENT_ALL") == "1" else list(LOGGING_PAIR)
    outs = [tmp_path / "a", tmp_path / "b"]
    processes = [subprocess.Popen(stowaway_command("run", *selection, "--out", str(out), "--parallel", "4"),
                                  cwd=ROOT, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for out in outs]
    results = [p.communicate(timeout=1800) for p in processes]
    for process, (stdout, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stdout + stderr

    cards = [scorecard(out) for out in outs]
    assert cards[0]["run_id"] != cards[1]["run_id"]
    for card in cards:
        assert card["status"] == "complete"
        ids = [o["scenario_id"] for o in card["outcomes"]]
        assert len(ids) == len(set(ids))
        if selection:
            assert sorted(ids) == sorted(selection)
            verdicts = {o["scenario_id"]: o["verdict"] for o in card["outcomes"]}
            assert verdicts == {LOGGING_PAIR[0]: "detected", LOGGING_PAIR[1]: "silent"}
        for outcome in card["outcomes"]:
            # every attributed alert concerns one of this scenario's own objects
            assert {a["object"] for a in outcome["alerts"]} <= set(outcome["objects"])

    # The two runs never shared an object, and each scenario's objects are its own.
    objects = [set().union(*(_container_refs(o) for o in card["outcomes"])) for card in cards]
    assert objects[0] and objects[1] and not objects[0] & objects[1]
    for card in cards:
        per_scenario = [_container_refs(o) for o in card["outcomes"]]
        assert sum(len(s) for s in per_scenario) == len(set().union(*per_scenario))

    # Each process reported its own run in its own progress lines.
    for card, (_stdout, stderr) in zip(cards, results, strict=True):
        other = next(c for c in cards if c is not card)["run_id"]
        assert card["run_id"] in stderr and other not in stderr

    paths = LabPaths.default()
    for card in cards:
        record = RunRecord.load(paths.runs / f"{card['run_id']}.json")
        assert record is not None and record.status == "complete", record
        assert record.notes == [], record.notes  # teardown found nothing left
        assert run_leftovers(card["run_id"]) == {}
    json.dumps(cards)  # both scorecards are plain JSON documents
