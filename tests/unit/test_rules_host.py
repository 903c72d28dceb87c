"""The host rules (masquerade, drop-and-execute, FIM) on events recorded from the real engine.

tests/fixtures/host/<scenario>.json holds what the tracefs-exec, procfs and FIM sensors emitted for
that scenario's containers during a real run (policy fields stripped: enrichment runs here again).
Each rule fires on its adversary recording and stays silent on the benign twins.
entrypoint-script.json is a container started through a #!/bin/sh docker-entrypoint.sh (see
test_argv0.py), recorded by hand on the lab engine rather than by a scenario run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, load_rules
from detectors.policies import DEFAULT_POLICY_DIR, load_policy

FIXTURES = Path(__file__).parents[1] / "fixtures" / "host"
BENIGN = ("real-nginx", "build-package-install", "config-management", "entrypoint-script")
FIRES = {
    "stowaway.host.masquerade-name": ("tmp-kworker",),
    "stowaway.host.exec-from-temp-dir": ("tmp-kworker",),
    "stowaway.host.deleted-executable": ("deleted-executable",),
    "stowaway.host.argv0-mismatch": ("argv0-spoof",),
    "stowaway.host.drop-and-execute": ("drop-execute", "tmp-kworker"),
    "stowaway.host.fim-ld-preload": ("ld-preload",),
    "stowaway.host.fim-cron": ("cron-entry",),
    "stowaway.host.fim-authorized-keys": ("authorized-keys",),
    "stowaway.host.fim-account-db": ("passwd-account",),
    "stowaway.host.fim-host-file-via-mount": ("host-mount-tamper",),
}


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Only the policy these rules read, so the test does not depend on other slices' files.
    directory = tmp_path_factory.mktemp("policy")
    shutil.copy(DEFAULT_POLICY_DIR / "declared_changes.yaml", directory)
    return directory


def replay(name: str, policy_dir: Path) -> list[str]:
    engine = DetectionEngine(load_rules([DEFAULT_RULE_DIR]), load_policy([policy_dir]))
    fired = []
    for event in json.loads((FIXTURES / f"{name}.json").read_text()):
        fired.extend(alert.rule_id for alert in engine.process(dict(event)))
    return fired


@pytest.mark.parametrize(("rule", "recording"), [(r, n) for r, names in FIRES.items() for n in names])
def test_rule_fires_on_its_adversary_recording(rule: str, recording: str, policy_dir: Path):
    assert rule in replay(recording, policy_dir)


@pytest.mark.parametrize("recording", BENIGN)
def test_benign_twins_raise_nothing(recording: str, policy_dir: Path):
    assert replay(recording, policy_dir) == []


def test_declared_build_step_alerts_without_its_declaration(tmp_path: Path):
    # Same telemetry, no declaration: what keeps the build quiet is the policy, not the events.
    fired = replay("build-package-install", tmp_path)
    assert "stowaway.host.drop-and-execute" in fired and "stowaway.host.fim-account-db" in fired


def test_declared_cron_file_alerts_without_its_declaration(tmp_path: Path):
    assert "stowaway.host.fim-cron" in replay("config-management", tmp_path)


def test_rules_fire_once_per_container(policy_dir: Path):
    engine_fired = replay("tmp-kworker", policy_dir)
    assert engine_fired.count("stowaway.host.exec-from-temp-dir") == 1


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixtures_carry_no_lab_bookkeeping(path: Path):
    text = path.read_text()
    assert "io.stowaway" not in text and "policy." not in text
