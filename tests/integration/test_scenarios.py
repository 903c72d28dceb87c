"""Every registered scenario, run against the real engine with the detectors attached.

The scenarios run once, together and in parallel as `stowaway run` runs them (one lab, one
monitor), and each one then gets its own test item: adversary scenarios must be detected by the
rules they name within their deadline, and benign twins must stay silent.

While they run, a tap on the monitor scans every event the sensors emit (harness/neutrality.py)
for scenario ids, module names and intent words; the run's own objects must show none of them.
"""

from __future__ import annotations

import pytest

from harness.neutrality import TelemetryScan, report
from harness.outcome import Verdict
from harness.pytest_plugin import collateral_problem, scenario_skipped
from harness.runner import RunOptions, run_all
from scenarios.api import Kind
from scenarios.registry import load

pytestmark = pytest.mark.integration

SCENARIOS = [s for s in load().all() if "docker" in s.backends]


@pytest.fixture(scope="module")
def telemetry_scan(monitor):
    # Every registered id, not only the docker ones: a name may borrow another scenario's id.
    scan = TelemetryScan(s.id for s in load().all())
    monitor.add_tap(scan)
    return scan


@pytest.fixture(scope="module")
def outcomes(lab_session, monitor, telemetry_scan):
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


def test_telemetry_reveals_no_scenario_and_no_intent(outcomes, telemetry_scan, lab_session, monitor):
    # Only this run's objects are judged: other runs may share the engine, with names of their own.
    refs = {ref for outcome in outcomes.values() for ref in outcome.objects}
    if lab_session.sinkhole is not None:
        refs |= {lab_session.sinkhole.ref}
    assert monitor.tap_failures == 0, "the scan stopped: its tap raised"
    containers = {r for r in refs if r.startswith("container:")}
    unseen = containers - telemetry_scan.seen_refs
    assert len(unseen) <= len(containers) // 10, f"the scan saw no event of {len(unseen)} containers: {unseen}"
    leaks = telemetry_scan.leaks_on(refs)
    print(f"neutrality: {telemetry_scan.events} events scanned, {len(containers) - len(unseen)} of "
          f"{len(containers)} containers seen, {len(leaks)} leak(s)")
    assert not leaks, f"telemetry names scenarios or intent ({telemetry_scan.events} events scanned):\n" + report(leaks)
