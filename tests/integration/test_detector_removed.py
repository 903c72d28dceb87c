"""Honesty check: without its detector, the adversary scenario must fail (missed, not detected)."""

from __future__ import annotations

import shutil

import pytest

from detectors.engine import DEFAULT_RULE_DIR
from harness.monitoring import build_monitor
from harness.outcome import Verdict, Visibility
from harness.runner import execute

pytestmark = pytest.mark.integration


def test_adversary_is_missed_when_its_rule_is_removed(lab_session, registry, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULE_DIR, rules)
    (rules / "docker_logging_disabled.yml").unlink()
    monitor = build_monitor(lab_session.engine, rule_dirs=[rules], run_id=lab_session.run_id)
    monitor.start()
    try:
        outcome = execute(registry.get("docker.logging.log-driver-none"), lab_session, monitor, "docker",
                          progress=lambda _m: None)
    finally:
        monitor.stop()
    assert outcome.verdict is Verdict.MISSED, outcome.reason
    # The telemetry was there; only the rule was missing: Logged, not None.
    assert outcome.visibility is Visibility.LOGGED
    assert "docker-events" in outcome.data_sources
