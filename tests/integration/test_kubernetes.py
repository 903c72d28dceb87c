"""Every Kubernetes scenario on a real kind cluster of the run's own, with the audit-log sensor.

Needs the offline kind node image (`nox -s kind-image`). Without it every test here is skipped,
visibly, with the reason; `nox -s kind-e2e` builds what is missing and sets
STOWAWAY_REQUIRE_KIND=1, which turns that skip into a failure.
"""

from __future__ import annotations

import os
import time

import pytest

from harness.outcome import Verdict
from harness.runner import RunOptions, run
from scenarios.api import Kind
from scenarios.registry import load

pytestmark = pytest.mark.integration

SCENARIOS = load().select(backend="kubernetes")


def _node_image_or_skip() -> None:
    # A kind cluster costs minutes of two shared cores: it runs when asked for (nox -s kind-e2e), not
    # in every `pytest tests/integration`.
    if os.environ.get("STOWAWAY_REQUIRE_KIND") != "1" and os.environ.get("STOWAWAY_KIND_E2E") != "1":
        pytest.skip("kind e2e not requested: run `nox -s kind-e2e` (or set STOWAWAY_KIND_E2E=1)")
    from lab import engine as engine_mod
    from lab.errors import LabError
    from lab.kind.provider import node_image

    lease = f"kind-probe-{os.getpid()}-{int(time.time())}"
    try:
        engine = engine_mod.acquire(lease)
    except LabError as exc:
        pytest.skip(f"no lab engine: {exc}")
    try:
        node_image(engine)
    except LabError as exc:
        if os.environ.get("STOWAWAY_REQUIRE_KIND") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    finally:
        engine_mod.release(engine, lease)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    _node_image_or_skip()
    # With the auto playbooks on (run --respond): the response never changes a verdict, and every
    # detected adversary's pod is then held, proved and given back on the same cluster.
    from harness.monitoring import known_detector_ids
    from harness.response.playbooks import load_playbooks

    playbooks = [p for p in load_playbooks(detector_ids=known_detector_ids()) if p.mode == "auto"]
    return run(SCENARIOS, RunOptions(backend="kind", parallel=2, progress=lambda m: print(m, flush=True),
                                     playbooks=playbooks, evidence_dir=tmp_path_factory.mktemp("evidence")))


@pytest.mark.parametrize("cls", SCENARIOS, ids=lambda s: s.id)
def test_kubernetes_scenario_meets_its_expectation(cls, result):
    outcome = next(o for o in result.outcomes if o.scenario_id == cls.id)
    wanted = Verdict.DETECTED if cls.kind is Kind.ADVERSARY else Verdict.SILENT
    assert outcome.verdict == wanted, f"{cls.id}: {outcome.verdict.value}: {outcome.reason}"
    if cls.kind is Kind.ADVERSARY:
        assert outcome.latency_s is not None and outcome.latency_s <= cls.expect.within_s
        # The cluster's own telemetry saw it: the audit log, or the node agents (a process frozen on a
        # node makes no API call at all, and only the agents' reader can say the node went unwatched).
        cluster = [s for s in outcome.data_sources if s == "k8s-audit" or s.startswith("node-agent")]
        assert cluster, outcome.data_sources


def test_each_response_held_the_pod_proved_it_and_gave_it_back(result):
    responded = [o for o in result.outcomes if o.response is not None]
    assert responded, "no playbook acted on any Kubernetes adversary"
    for outcome in responded:
        response = outcome.response
        assert outcome.kind == "adversary", f"{outcome.scenario_id}: a benign twin set off a response"
        assert response.passed and response.action == "hold-pod", (outcome.scenario_id, response)
        assert any("PAUSED" in check for check in response.checks)
        assert response.evidence_complete, (outcome.scenario_id, response.evidence_missing)
    escapes = [o.response for o in responded if o.response.playbook == "contain-escape"]
    assert escapes and all(any(c.endswith("is cordoned") for c in r.checks) for r in escapes)


def test_the_run_left_nothing_behind(result):
    assert result.status == "complete"
    from lab import engine as engine_mod

    lease = f"kind-check-{os.getpid()}"
    engine = engine_mod.acquire(lease)
    try:
        nodes = engine.client.containers.list(all=True, filters={"label": "io.x-k8s.kind.cluster"})
        mine = [c.name for c in nodes if c.name.startswith(f"stw-{result.run_id[-6:]}")]
        assert mine == [], f"kind nodes left behind: {mine}"
    finally:
        engine_mod.release(engine, lease)


def test_the_node_agent_made_a_detection_the_host_cannot(result):
    """A pod's process whose executable was deleted: only the agent on the pod's worker can see it (the
    host's own procfs sensor enumerates the lab engine's containers, and the pod's live in the node's
    containerd). The alert's evidence is the agent's, from a worker, and no host sensor saw the pod."""
    outcome = next(o for o in result.outcomes if o.scenario_id == "docker.masquerade.deleted-executable")
    alert = next(a for a in outcome.alerts if a["rule_id"] == "stowaway.host.deleted-executable")
    assert alert["data_source"] == "node-agent/procfs", alert
    node = alert["evidence"][0].split(":", 1)[0]
    assert "-worker" in node, f"the evidence came from {node!r}, not a worker"
    assert "procfs" not in outcome.data_sources, outcome.data_sources
    agent = next(s for s in result.environment["sensors"] if s["name"] == "node-agent")
    assert agent["state"] == "running", agent
    assert agent["stats"]["agents"] == 3 and agent["stats"]["dropped"] == 0, agent["stats"]
    assert agent["stats"]["agent_sensors_not_running"] == 0, agent["stats"]
