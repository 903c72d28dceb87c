"""README is the front door: its scenario catalogue must match the registry, and its two commands
must be the ones CI and nox really run."""

from __future__ import annotations

import json
from pathlib import Path

from harness.readme import README, render
from scenarios.registry import load

ROOT = Path(__file__).parents[2]


def test_scenario_catalogue_matches_the_registry():
    text = README.read_text()
    assert render(text, load()) == text, "README's scenario catalogue is stale: run `python -m harness.readme`"


def test_every_scenario_is_in_readme():
    text = README.read_text()
    missing = [s.id for s in load().all() if f"`{s.id}`" not in text]
    assert not missing


def test_readme_commands_are_the_real_ones():
    text = README.read_text()
    assert "nox -s purple-team" in text and "nox -s tests" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "nox -s tests" in ci
    noxfile = (ROOT / "noxfile.py").read_text()
    assert 'name="purple-team"' in noxfile and "def tests(" in noxfile


def test_the_run_summary_says_what_the_baseline_scorecard_says():
    from harness.readme import BASELINE, run_summary

    scorecard = json.loads(BASELINE.read_text())
    text = run_summary(scorecard)
    assert text in README.read_text()
    assert f"{scorecard['summary']['verdicts']['detected']} detected" in text
