"""The runtime and orchestrator rules and analytics on events recorded from the real engine.

Each fixture holds the events the sensors emitted during one real scenario run (captured on the
lab's private engine, policy fields stripped so enrichment runs again here). Adversary fixtures
must raise their rules; benign twins must raise none of this slice's rules.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.analytics import default_analytics
from detectors.engine import DetectionEngine, load_rules
from detectors.policies import DEFAULT_POLICY_DIR, load_policy

FIXTURES = Path(__file__).parent.parent / "fixtures"

SLICE_RULES = {
    "stowaway.docker.unapproved-image", "stowaway.docker.image-impersonation", "stowaway.docker.privileged-container",
    "stowaway.docker.host-namespace", "stowaway.docker.sensitive-host-mount", "stowaway.docker.dangerous-capability",
    "stowaway.docker.exec-escape-tool", "stowaway.docker.logging-discarded", "stowaway.docker.output-discarded",
    "stowaway.docker.container-log-truncated", "stowaway.docker.engine-config-changed",
    "stowaway.docker.logging-disabled", "stowaway.swarm.service-logging-disabled",
    "stowaway.swarm.unmanaged-container", "stowaway.swarm.node-label-changed",
    "stowaway.analytic.container-log-deleted", "stowaway.analytic.swarm-service-drift",
}

ADVERSARY = {
    "docker/deploy_host_built_image.json": {"stowaway.docker.unapproved-image"},
    "docker/deploy_retagged_image.json": {"stowaway.docker.image-impersonation"},
    "docker/logging_discarding_log_options.json": {"stowaway.docker.logging-discarded"},
    "docker/logging_stdout_devnull.json": {"stowaway.docker.output-discarded"},
    "docker/logging_log_file_wiped.json": {"stowaway.docker.container-log-truncated",
                                           "stowaway.analytic.container-log-deleted"},
    "docker/escape_nsenter_host.json": {"stowaway.docker.privileged-container", "stowaway.docker.host-namespace",
                                        "stowaway.docker.exec-escape-tool"},
    "docker/escape_host_root_chroot.json": {"stowaway.docker.sensitive-host-mount", "stowaway.docker.exec-escape-tool"},
    "docker/escape_docker_socket.json": {"stowaway.docker.sensitive-host-mount"},
    "docker/escape_sys_admin_host_network.json": {"stowaway.docker.dangerous-capability",
                                                  "stowaway.docker.host-namespace"},
    "docker/tamper_daemon_config.json": {"stowaway.docker.engine-config-changed"},
    "swarm/logging_service_logging_disabled.json": {"stowaway.swarm.service-logging-disabled",
                                                    "stowaway.docker.logging-disabled"},
    "swarm/deploy_container_outside_orchestrator.json": {"stowaway.swarm.unmanaged-container"},
    "swarm/tamper_service_spec_drift.json": {"stowaway.analytic.swarm-service-drift"},
    "swarm/tamper_node_label_dodge.json": {"stowaway.swarm.node-label-changed"},
}
BENIGN = [
    "docker/deploy_approved_image.json", "docker/logging_log_rotation.json", "docker/logging_foreground_web.json",
    "docker/escape_monitoring_agent.json", "docker/tamper_approved_engine_tuning.json",
    "swarm/tamper_approved_rollout.json",
]


def _replay(fixture: str, tmp_path: Path) -> set[str]:
    data = json.loads((FIXTURES / fixture).read_text())
    published = tmp_path / "published"
    published.mkdir()
    # What the lab's image pipeline publishes at lab start, with the id recorded with the fixture.
    (published / "base-image.yaml").write_text(
        "kind: images\npinned:\n  - name: lab-base-image\n    owner: platform-team\n"
        "    description: recorded\n    repository: stowaway/base\n"
        f"    image_ids: [\"{data['base_image_id']}\"]\n")
    policy = load_policy([DEFAULT_POLICY_DIR, published])
    engine = DetectionEngine(load_rules(), policy, default_analytics(policy))
    alerts = []
    last = 0.0
    for event in sorted(data["events"], key=lambda e: float(e["event.created"])):
        # The monitor ticks analytics once a second; replay the ticks on the recorded clock.
        at = float(event["event.created"])
        while last and last + 1.0 < at:
            last += 1.0
            alerts += engine.tick(last)
        alerts += engine.process(dict(event))
        last = max(last, at)
    alerts += engine.tick(last + 60)  # let the deferred analytics decide
    return {a.rule_id for a in alerts} & SLICE_RULES


@pytest.mark.parametrize("fixture", sorted(ADVERSARY))
def test_adversary_fixture_raises_its_rules(fixture: str, tmp_path: Path) -> None:
    fired = _replay(fixture, tmp_path)
    assert ADVERSARY[fixture] <= fired, f"{fixture}: fired {sorted(fired)}"


@pytest.mark.parametrize("fixture", BENIGN)
def test_benign_fixture_stays_silent(fixture: str, tmp_path: Path) -> None:
    assert _replay(fixture, tmp_path) == set()


def test_every_fixture_is_real_engine_telemetry() -> None:
    for fixture in [*ADVERSARY, *BENIGN]:
        data = json.loads((FIXTURES / fixture).read_text())
        assert data["events"], f"{fixture} holds no events"
        assert all("event.created" in e and "event.dataset" in e for e in data["events"])
