"""Every registered scenario, run against the real engine with the detectors attached.

Adversary scenarios must be detected by the rules they name; benign twins must stay silent.
"""

from __future__ import annotations

import pytest

from harness.outcome import Verdict
from scenarios.api import Kind
from scenarios.registry import load

pytestmark = pytest.mark.integration

SCENARIOS = load().all()


@pytest.mark.parametrize("cls", [s for s in SCENARIOS if "docker" in s.backends], ids=lambda s: s.id)
def test_scenario_meets_its_expectation(cls, run_scenario):
    outcome = run_scenario(cls.id)
    wanted = Verdict.DETECTED if cls.kind is Kind.ADVERSARY else Verdict.SILENT
    assert outcome.verdict == wanted, f"{cls.id}: {outcome.verdict.value}: {outcome.reason}"
    if cls.kind is Kind.ADVERSARY:
        assert outcome.latency_s is not None and outcome.latency_s <= cls.expect.within_s
