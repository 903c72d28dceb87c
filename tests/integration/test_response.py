"""run --respond against real containers: containment holds, the evidence holds what the scenario
planted, and release gives the workload back (each proved by the responder, checked again here)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from harness.monitoring import known_detector_ids
from harness.response.playbooks import load_playbooks
from harness.runner import RunOptions, run
from scenarios.registry import load

pytestmark = pytest.mark.integration

# Every network, escape and drop scenario (adversaries and their benign twins), and the Swarm ones
# whose response holds a service or refuses a lookalike's claim.
FAMILIES = ("docker.network.", "docker.escape.", "docker.drop.")
_ALL = load().all()
RESPONDED = (*(c.id for c in _ALL if c.id.startswith(FAMILIES) and c.kind.value == "adversary"),
             "swarm.tamper.service-spec-drift", "swarm.deploy.task-lookalike")
TWINS = tuple(c.id for c in _ALL if c.id.startswith(FAMILIES) and c.kind.value == "benign")


@pytest.fixture(scope="module")
def responded(registry, tmp_path_factory):
    playbooks = [p for p in load_playbooks(detector_ids=known_detector_ids()) if p.mode == "auto"]
    evidence = tmp_path_factory.mktemp("evidence")
    result = run([registry.get(i) for i in (*RESPONDED, *TWINS)],
                 RunOptions(playbooks=playbooks, evidence_dir=evidence, progress=lambda _m: None, parallel=6))
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
    assert not response.planted_missing
    assert response.time_to_contain_s is not None and response.time_to_contain_s < 120
    bundle = Path(response.evidence)
    assert bundle.parent == evidence and bundle.exists()
    with tarfile.open(bundle) as archive:
        assert "manifest.json" in archive.getnames()


def test_the_escape_is_frozen_and_the_callers_are_cut_off(responded) -> None:
    outcomes, _ = responded
    assert outcomes["docker.escape.nsenter-host"].response.action == "pause"
    assert outcomes["docker.network.exfil-burst"].response.action == "quarantine"


def test_a_drifted_swarm_service_is_held_at_zero_with_its_spec_and_given_back(responded) -> None:
    outcomes, _ = responded
    response = outcomes["swarm.tamper.service-spec-drift"].response
    assert response.action == "hold-service" and response.object.startswith("service:")
    assert any("runs none of its tasks" in c for c in response.checks), response.checks
    assert any("spec is kept" in c for c in response.checks) and any("frozen before" in c for c in response.checks)
    assert any("runs 1 task(s) again (wanted 1)" in c for c in response.release_checks), response.release_checks


def test_a_container_posing_as_a_task_is_paused_not_its_service(responded) -> None:
    """The lookalike carries the service's task labels; the orchestrator does not run it."""
    outcomes, _ = responded
    response = outcomes["swarm.deploy.task-lookalike"].response
    assert response.action == "pause" and response.object.startswith("container:"), response


def test_the_bundles_pcap_holds_the_exfiltrations_packets_to_the_planted_destination(responded, tmp_path) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.utils import rdpcap

    from harness.response.evidence import read_members

    outcomes, _ = responded
    response = outcomes["docker.network.exfil-burst"].response
    planted = next(p.removeprefix("destination:") for p in response.planted if p.startswith("destination:"))
    address, port = planted.split("/")[0].rsplit(":", 1)
    pcap = tmp_path / "traffic.pcap"
    pcap.write_bytes(read_members(Path(response.evidence))["traffic.pcap"])
    to_it = [p for p in rdpcap(str(pcap))
             if IP in p and TCP in p and p[IP].dst == address and p[TCP].dport == int(port)]
    notes = json.loads(read_members(Path(response.evidence))["manifest.json"])["notes"]
    assert to_it and any(len(p[TCP].payload) for p in to_it), notes  # the bytes it sent, not only the handshake


@pytest.mark.parametrize("scenario_id", TWINS)
def test_a_benign_twin_triggers_no_response(responded, scenario_id: str) -> None:
    outcomes, _ = responded
    assert outcomes[scenario_id].verdict.value == "silent" and outcomes[scenario_id].response is None


def test_the_cross_reference_finds_the_relays_client(responded) -> None:
    outcomes, _ = responded
    response = outcomes["docker.network.relay"].response
    own = [r for r in response.related if r["same_scenario"]]
    assert own and any(m.startswith("served:") for r in own for m in r["matched"]), response.related


def test_a_forced_response_on_a_benign_workload_is_fully_released(lab, lab_session, monitor, tmp_path) -> None:
    """No playbook acts on a twin by itself; forced on one, it leaves it exactly as it was."""
    from detectors.alert import Alert
    from harness.response.playbooks import Playbook
    from harness.response.responder import Responder
    from harness.response.window import EventWindow
    from lab import WorkloadSpec

    window = EventWindow()
    monitor.add_tap(window.tap)
    try:
        box = lab.deploy(WorkloadSpec(role="web", networks=("lan", "inet"), command=("sleep", "120")))
        cid = box.id
        before = lab_session.engine.client.api.inspect_container(cid)["NetworkSettings"]["Networks"]
        forced = Playbook(name="forced", triggers=("forced",), mode="auto", contain="quarantine", collect=True)
        alert = Alert(rule_id="forced", title="forced", severity="low", techniques=(), object=f"container:{cid}",
                      evidence=(), first_seen=lab.started_at)
        result = Responder(lab_session, [forced], window, tmp_path).respond([alert], [], lab.object_refs(),
                                                                           lab.started_at)
        assert result is not None and result.passed, result
        after = lab_session.engine.client.api.inspect_container(cid)["NetworkSettings"]["Networks"]
        assert set(after) == set(before)
        assert all(after[n]["IPAddress"] == before[n]["IPAddress"] for n in before)
        assert lab_session.engine.client.api.inspect_container(cid)["State"]["Running"]
        assert not [r for r in lab_session.containments if r.contained]
    finally:
        window.close()
