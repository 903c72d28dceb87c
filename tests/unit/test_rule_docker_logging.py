"""The disabled-logging rule on events recorded from the real engine (tests/fixtures/docker/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, load_rules
from detectors.policies import load_policy

FIXTURES = Path(__file__).parents[1] / "fixtures" / "docker"
RULE = "stowaway.docker.logging-disabled"


def replay(name: str, policy_dirs: list[Path] | None = None) -> list[str]:
    engine = DetectionEngine(load_rules([DEFAULT_RULE_DIR]), load_policy(policy_dirs) if policy_dirs is not None
                             else load_policy())
    fired = []
    for event in json.loads((FIXTURES / name).read_text()):
        fired.extend(alert.rule_id for alert in engine.process(event))
    return fired


def test_fires_on_a_container_started_with_log_driver_none():
    assert replay("log_driver_none.events.json").count(RULE) == 1  # once per container, not per event


def test_silent_on_the_sanctioned_dev_network():
    assert RULE not in replay("dev_minimal_logging.events.json")


def test_the_dev_twin_alerts_once_the_policy_no_longer_sanctions_it(tmp_path):
    # Same telemetry, no sanction: what keeps the twin quiet is the policy, not the event.
    assert RULE in replay("dev_minimal_logging.events.json", policy_dirs=[tmp_path])


@pytest.mark.parametrize("name", ["log_driver_none.events.json", "dev_minimal_logging.events.json"])
def test_fixtures_carry_no_lab_bookkeeping(name):
    for event in json.loads((FIXTURES / name).read_text()):
        assert not any("io.stowaway" in key or "io.stowaway" in str(value) for key, value in event.items())
