"""Wire the detectors to a lab engine: which sensors, which rules, which policy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from detectors.analytics import analytic_ids, default_analytics
from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, Monitor, load_rules
from detectors.policies import DEFAULT_POLICY_DIR, load_policy
from detectors.sensors.docker_events import DockerEventsSensor
from detectors.sensors.fim import FimSensor, Watch, follow_container_logs
from lab import Engine


def rule_dirs_or_default(rule_dirs: Sequence[Path]) -> list[Path]:
    return list(rule_dirs) or [DEFAULT_RULE_DIR]


def known_detector_ids(rule_dirs: Sequence[Path] = ()) -> set[str]:
    """Every id an expectation may name: the Sigma rules' names plus the analytics' ids."""
    rules = load_rules(rule_dirs_or_default(rule_dirs))
    return {rule.rule_id for rule in rules} | analytic_ids()


def build_monitor(engine: Engine, rule_dirs: Sequence[Path] = (), policy_dirs: Sequence[Path] = ()) -> Monitor:
    policy = load_policy(list(policy_dirs) or [DEFAULT_POLICY_DIR])
    detection = DetectionEngine(load_rules(rule_dirs_or_default(rule_dirs)), policy, default_analytics(policy))
    watches = [Watch(str(engine.config_file), role="engine-config")] if engine.config_file else []
    sensors = [DockerEventsSensor(engine.client), FimSensor(watches, follow=follow_container_logs)]
    return Monitor(detection, sensors)
