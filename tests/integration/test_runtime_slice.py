"""What the runtime and orchestrator scenarios must leave behind: nothing.

The parametrised test in test_scenarios.py judges every scenario's detection. These tests run the
scenarios that change shared or host state once more and check the state afterwards: the escape
markers are gone from the host, no service, task container or overlay of theirs is left, the
engine's daemon.json and live registry settings are back, the node's labels are restored.
"""

from __future__ import annotations

import json

import pytest

from harness.outcome import Verdict

pytestmark = [pytest.mark.integration, pytest.mark.destructive]


def _scope_dirs(lab_session, scenario_id: str) -> list:
    return [p for p in lab_session.host_root.glob(f"{scenario_id}-*") if p.exists()]


@pytest.mark.parametrize("scenario_id", ["docker.escape.nsenter-host", "docker.escape.host-root-chroot"])
def test_escape_markers_are_removed_from_the_host(scenario_id, run_scenario, lab_session, lab_leftovers):
    outcome = run_scenario(scenario_id)
    assert outcome.verdict in (Verdict.DETECTED, Verdict.MISSED), outcome.reason  # the escape itself worked
    left = [f for scope in _scope_dirs(lab_session, scenario_id) for f in scope.rglob("*") if not f.is_dir()]
    assert left == []  # the marker written from the container is gone, and nothing else was left
    assert lab_leftovers(outcome.objects, scope=outcome.scenario_id) == {}


@pytest.mark.parametrize("scenario_id", ["swarm.tamper.service-spec-drift",
                                         "swarm.deploy.container-outside-orchestrator",
                                         "swarm.logging.service-logging-disabled"])
def test_swarm_scenarios_leave_no_service_or_task(scenario_id, run_scenario, lab_session):
    outcome = run_scenario(scenario_id)
    if outcome.verdict is Verdict.SKIPPED:
        pytest.skip(outcome.reason)
    assert outcome.verdict is not Verdict.ERROR, outcome.reason
    client = lab_session.engine.client
    services = [ref.split(":", 1)[1] for ref in outcome.objects if ref.startswith("service:")]
    containers = [ref.split(":", 1)[1] for ref in outcome.objects if ref.startswith("container:")]
    assert services and containers
    existing = {s.id for s in client.services.list()}
    assert not existing & set(services)
    assert not {c.id for c in client.containers.list(all=True)} & set(containers)


def test_engine_config_is_restored(run_scenario, lab_session):
    config = lab_session.engine.config_file
    if config is None:
        pytest.skip("not the lab's private engine")
    before = config.read_text()
    outcome = run_scenario("docker.tamper.daemon-config")
    assert outcome.verdict is not Verdict.ERROR, outcome.reason
    assert json.loads(config.read_text()) == json.loads(before)
    index = lab_session.engine.client.info()["RegistryConfig"]["IndexConfigs"]
    assert all(entry.get("Secure", True) for name, entry in index.items() if name != "docker.io")


def test_node_labels_are_restored(run_scenario, lab_session):
    outcome = run_scenario("swarm.tamper.node-label-dodge")
    if outcome.verdict is Verdict.SKIPPED:
        pytest.skip(outcome.reason)
    assert outcome.verdict is not Verdict.ERROR, outcome.reason
    node_ref = next(ref for ref in outcome.objects if ref.startswith("node:"))
    labels = lab_session.engine.client.nodes.get(node_ref.split(":", 1)[1]).attrs["Spec"].get("Labels") or {}
    assert not labels.get("zone", "").startswith("restricted")  # the scenario's undeclared value is gone
