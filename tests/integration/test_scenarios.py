"""Every registered scenario, run against the real engine with the detectors attached.

The scenarios run once, together and in parallel as `stowaway run` runs them (one lab, one
monitor), and each one then gets its own test item: adversary scenarios must be detected by the
rules they name within their deadline, and benign twins must stay silent.
"""

from __future__ import annotations

import pytest

from harness.outcome import Verdict
from harness.pytest_plugin import collateral_problem, scenario_skipped
from harness.runner import RunOptions, run_all
from scenarios.api import Kind
from scenarios.registry import load

pytestmark = pytest.mark.integration

SCENARIOS = [s for s in load().all() if "docker" in s.backends]


@pytest.fixture(scope="module")
def outcomes(lab_session, monitor):
    results = run_all(SCENARIOS, lab_session, monitor, RunOptions(progress=lambda _m: None))
    return {o.scenario_id: o for o in results}


@pytest.mark.parametrize("cls", SCENARIOS, ids=lambda s: s.id)
def test_scenario_meets_its_expectation(cls, outcomes, request):
    outcome = outcomes[cls.id]
    if outcome.verdict is Verdict.SKIPPED:
        scenario_skipped(request.config, outcome)  # a failure under --require-engine, as in CI
    wanted = Verdict.DETECTED if cls.kind is Kind.ADVERSARY else Verdict.SILENT
    assert outcome.verdict == wanted, f"{cls.id}: {outcome.verdict.value}: {outcome.reason}"
    if cls.kind is Kind.ADVERSARY:
        assert outcome.latency_s is not None and outcome.latency_s <= cls.expect.within_s
        assert outcome.visibility.value == "alerted"
        # Every alert is judged: a rule outside fires and may_fire alerting here is a false positive.
        assert collateral_problem(outcome) is None, f"{cls.id}: {collateral_problem(outcome)}"
