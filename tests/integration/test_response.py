"""run --respond against real containers: containment holds, the evidence holds what the scenario
planted, and release gives the workload back (each proved by the responder, checked again here)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from harness.monitoring import known_detector_ids
from harness.response.playbooks import load_playbooks
from harness.runner import RunOptions, run

pytestmark = pytest.mark.integration

RESPONDED = ("docker.network.exfil-burst", "docker.drop.drop-execute", "docker.escape.nsenter-host")
TWIN = "docker.network.backup-transfer"


@pytest.fixture(scope="module")
def responded(registry, tmp_path_factory):
    playbooks = [p for p in load_playbooks(detector_ids=known_detector_ids()) if p.mode == "auto"]
    evidence = tmp_path_factory.mktemp("evidence")
    result = run([registry.get(i) for i in (*RESPONDED, TWIN)],
                 RunOptions(playbooks=playbooks, evidence_dir=evidence, progress=lambda _m: None, parallel=4))
    return {o.scenario_id: o for o in result.outcomes}, evidence


@pytest.mark.parametrize("scenario_id", RESPONDED)
def test_each_response_contains_collects_and_releases(responded, scenario_id: str) -> None:
    outcomes, evidence = responded
    outcome = outcomes[scenario_id]
    assert outcome.verdict.value == "detected", outcome.reason
    response = outcome.response
    assert response is not None, "no playbook acted on a detected adversary"
    assert response.passed, response
    assert response.contained and response.released
    assert response.planted and not response.planted_missing
    assert response.time_to_contain_s is not None and response.time_to_contain_s < 120
    bundle = Path(response.evidence)
    assert bundle.parent == evidence and bundle.exists()
    with tarfile.open(bundle) as archive:
        assert "manifest.json" in archive.getnames()


def test_the_escape_is_frozen_and_the_callers_are_cut_off(responded) -> None:
    outcomes, _ = responded
    assert outcomes["docker.escape.nsenter-host"].response.action == "pause"
    assert outcomes["docker.network.exfil-burst"].response.action == "quarantine"


def test_a_benign_twin_triggers_no_response(responded) -> None:
    outcomes, _ = responded
    assert outcomes[TWIN].verdict.value == "silent" and outcomes[TWIN].response is None
