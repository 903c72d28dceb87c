"""README is the front door: its scenario catalogue must match the registry, and its two commands
must be the ones CI and nox really run."""

from __future__ import annotations

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
