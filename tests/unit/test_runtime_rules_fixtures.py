"""The runtime and orchestrator rules and analytics on events recorded from real scenario runs.

Each fixture (tests/fixtures/recorded/<scenario>.json, written by harness/record.py) holds the events
the sensors emitted for one scenario's objects during a real run, before enrichment, and the platform
facts a replay needs (the pipeline's public key and the signatures of the images the events mention,
the platform's network inventory entries). Adversary fixtures must raise their rules; benign twins
must raise none of this slice's rules. The look-alikes copy a sanctioned twin without its provenance.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.recorded import load_fixture, policy_for, replay

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
    "docker.deploy.host-built-image": {"stowaway.docker.unapproved-image"},
    "docker.deploy.retagged-image": {"stowaway.docker.image-impersonation"},
    "docker.deploy.pipeline-label-lookalike": {"stowaway.docker.unapproved-image"},
    "docker.logging.discarding-log-options": {"stowaway.docker.logging-discarded"},
    "docker.logging.stdout-devnull": {"stowaway.docker.output-discarded"},
    "docker.logging.log-file-wiped": {"stowaway.docker.container-log-truncated",
                                      "stowaway.analytic.container-log-deleted"},
    "docker.logging.log-driver-none": {"stowaway.docker.logging-disabled"},
    "docker.logging.dev-network-lookalike": {"stowaway.docker.logging-disabled"},
    "docker.logging.build-step-lookalike": {"stowaway.docker.logging-disabled"},
    "docker.escape.nsenter-host": {"stowaway.docker.privileged-container", "stowaway.docker.host-namespace",
                                   "stowaway.docker.exec-escape-tool"},
    "docker.escape.agent-lookalike": {"stowaway.docker.privileged-container", "stowaway.docker.host-namespace"},
    "docker.escape.agent-image-repurposed": {"stowaway.docker.privileged-container",
                                             "stowaway.docker.host-namespace"},
    "docker.escape.host-root-chroot": {"stowaway.docker.sensitive-host-mount", "stowaway.docker.exec-escape-tool"},
    "docker.escape.docker-socket": {"stowaway.docker.sensitive-host-mount"},
    "docker.escape.sys-admin-host-network": {"stowaway.docker.dangerous-capability",
                                             "stowaway.docker.host-namespace"},
    "docker.tamper.daemon-config": {"stowaway.docker.engine-config-changed"},
    "docker.tamper.tuning-lookalike": {"stowaway.docker.engine-config-changed"},
    "swarm.logging.service-logging-disabled": {"stowaway.swarm.service-logging-disabled",
                                               "stowaway.docker.logging-disabled"},
    "swarm.deploy.container-outside-orchestrator": {"stowaway.swarm.unmanaged-container"},
    "swarm.deploy.task-lookalike": {"stowaway.swarm.unmanaged-container"},
    "swarm.tamper.service-spec-drift": {"stowaway.analytic.swarm-service-drift"},
    "swarm.tamper.rollout-lookalike": {"stowaway.analytic.swarm-service-drift"},
    "swarm.tamper.node-label-dodge": {"stowaway.swarm.node-label-changed"},
}
BENIGN = [
    "docker.deploy.approved-image", "docker.logging.log-rotation", "docker.logging.foreground-web",
    "docker.logging.dev-minimal-logging", "docker.escape.monitoring-agent", "docker.tamper.approved-engine-tuning",
    "swarm.tamper.approved-rollout", "docker.resources.ci-build",
]


def _fired(scenario: str, tmp_path: Path) -> set[str]:
    fixture = load_fixture(scenario)
    return {a.rule_id for a in replay(fixture, policy_for(fixture, tmp_path))} & SLICE_RULES


@pytest.mark.parametrize("scenario", sorted(ADVERSARY))
def test_adversary_fixture_raises_its_rules(scenario: str, tmp_path: Path) -> None:
    fired = _fired(scenario, tmp_path)
    assert ADVERSARY[scenario] <= fired, f"{scenario}: fired {sorted(fired)}"


@pytest.mark.parametrize("scenario", BENIGN)
def test_benign_fixture_stays_silent(scenario: str, tmp_path: Path) -> None:
    assert _fired(scenario, tmp_path) == set()


def test_the_sanctions_are_what_keeps_the_twins_quiet(tmp_path: Path) -> None:
    # The same telemetry without the platform's published facts (no signer, no network inventory):
    # the agent is an unsanctioned privileged container, the dev container an unsanctioned one.
    for scenario, rule in (("docker.escape.monitoring-agent", "stowaway.docker.privileged-container"),
                           ("docker.logging.dev-minimal-logging", "stowaway.docker.logging-disabled")):
        fixture = load_fixture(scenario)
        bare = {**fixture, "platform": {"public_key": fixture["platform"]["public_key"], "signatures": {},
                                        "networks": []}}
        assert rule in {a.rule_id for a in replay(bare, policy_for(bare, tmp_path / scenario))}, scenario


def test_every_fixture_is_real_engine_telemetry() -> None:
    for scenario in [*ADVERSARY, *BENIGN]:
        fixture = load_fixture(scenario)
        assert fixture["format"] == "stowaway-recorded-scenario/1" and fixture["scenario"] == scenario
        assert fixture["events"], f"{scenario} holds no events"
        assert all("event.created" in e and "event.dataset" in e for e in fixture["events"])
        assert not any(k.startswith("policy.") for e in fixture["events"] for k in e), scenario
