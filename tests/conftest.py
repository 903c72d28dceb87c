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


@pytest.fixture
def fake_run(monkeypatch):
    """Replace the runner with one that returns canned outcomes; records the options it got."""
    import harness.runner
    from harness.outcome import Outcome, RuleResult, RunResult, Verdict, Visibility

    calls: list[dict] = []

    def fake(scenarios, options):
        calls.append({"ids": [s.id for s in scenarios], "options": options})
        outcomes = []
        for cls in scenarios:
            detected = cls.kind.value == "benign" or not options.extra.get("miss")
            verdict = (Verdict.SILENT if cls.kind.value == "benign"
                       else Verdict.DETECTED if detected else Verdict.MISSED)
            outcomes.append(Outcome(
                scenario_id=cls.id, title=cls.title, kind=cls.kind.value, techniques=list(cls.techniques),
                backend=options.backend, verdict=verdict, reason="canned", visibility=Visibility.LOGGED,
                started_at=1.0, finished_at=2.0, latency_s=0.5 if verdict is Verdict.DETECTED else None,
                rules=[RuleResult(rule_id=r, fired=verdict is Verdict.DETECTED) for r in cls.expect.fires]))
        options.progress("fake run")
        return RunResult(run_id="run-fake", attack_version="18", backend=options.backend, started_at=1.0,
                         finished_at=3.0, outcomes=outcomes)

    monkeypatch.setattr(harness.runner, "run", fake)
    return calls
