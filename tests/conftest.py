"""Shared test configuration. The lab fixtures come from the project's own pytest plugin
(harness/pytest_plugin.py, registered as the ``stowaway`` pytest11 entry point)."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_lab(monkeypatch):
    """Fail the test if anything tries to start a run or reach an engine (bad input, replays)."""
    import harness.runner
    import lab.engine

    def refuse(*_a, **_k):
        raise AssertionError("a run was started, or an engine reached, where none may be")

    monkeypatch.setattr(harness.runner, "run", refuse)
    monkeypatch.setattr(lab.engine, "acquire", refuse)
