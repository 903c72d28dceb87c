"""The disabled-logging rule on events recorded from real scenario runs (tests/fixtures/recorded/)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.recorded import load_fixture, policy_for, replay

RULE = "stowaway.docker.logging-disabled"


def fired(scenario: str, tmp_path: Path, **platform: object) -> list[str]:
    fixture = load_fixture(scenario)
    fixture = {**fixture, "platform": {**fixture["platform"], **platform}}
    return [a.rule_id for a in replay(fixture, policy_for(fixture, tmp_path), analytics=False)]


def test_fires_on_a_container_started_with_log_driver_none(tmp_path):
    assert fired("docker.logging.log-driver-none", tmp_path).count(RULE) == 1  # once per container


def test_silent_on_the_platforms_dev_network(tmp_path):
    assert RULE not in fired("docker.logging.dev-minimal-logging", tmp_path)


def test_the_dev_twin_alerts_once_the_platform_does_not_list_its_network(tmp_path):
    # Same telemetry, the network no longer in the platform's inventory: it is the id that sanctions.
    assert RULE in fired("docker.logging.dev-minimal-logging", tmp_path, networks=[])


def test_a_network_merely_named_like_the_dev_network_sanctions_nothing(tmp_path):
    events = load_fixture("docker.logging.dev-network-lookalike")["events"]
    assert any(name.endswith("-dev") for e in events for name in e.get("container.network.names", []))
    assert RULE in fired("docker.logging.dev-network-lookalike", tmp_path)
