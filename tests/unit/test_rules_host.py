"""The host rules (masquerade, drop-and-execute, FIM) on events recorded from real scenario runs.

tests/fixtures/recorded/<scenario>.json (harness/record.py) holds what the sensors emitted for that
scenario's containers, before enrichment, with the platform facts a replay needs. Each rule fires on
its adversary recording and stays silent on the benign twins. tests/fixtures/host/entrypoint-script.json
is a container started through a #!/bin/sh docker-entrypoint.sh (see test_argv0.py), recorded by hand
on the lab engine rather than by a scenario run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, load_rules
from detectors.policies import DEFAULT_POLICY_DIR, load_policy
from tests.unit.recorded import RECORDED, load_fixture, publish

HOST = Path(__file__).parents[1] / "fixtures" / "host"
BENIGN = ("docker.masquerade.real-nginx", "docker.drop.build-package-install", "docker.fim.config-management",
          "docker.masquerade.entrypoint-script")
FIRES = {
    "stowaway.host.masquerade-name": ("docker.masquerade.tmp-kworker",),
    "stowaway.host.exec-from-temp-dir": ("docker.masquerade.tmp-kworker",),
    "stowaway.host.deleted-executable": ("docker.masquerade.deleted-executable",),
    "stowaway.host.argv0-mismatch": ("docker.masquerade.argv0-spoof",),
    "stowaway.host.drop-and-execute": ("docker.drop.drop-execute", "docker.masquerade.tmp-kworker",
                                       "docker.deploy.pipeline-label-lookalike"),
    "stowaway.host.fim-ld-preload": ("docker.fim.ld-preload",),
    "stowaway.host.fim-cron": ("docker.fim.cron-entry", "docker.fim.managed-cron-lookalike"),
    "stowaway.host.fim-authorized-keys": ("docker.fim.authorized-keys",),
    "stowaway.host.fim-account-db": ("docker.fim.passwd-account", "docker.deploy.pipeline-label-lookalike"),
    "stowaway.host.fim-host-file-via-mount": ("docker.fim.host-mount-tamper",),
}
HOST_RULES = {rule for rule in FIRES}


def _events(name: str) -> tuple[list[dict], dict]:
    if (RECORDED / f"{name}.json").exists():
        fixture = load_fixture(name)
        return fixture["events"], fixture["platform"]
    return json.loads((HOST / f"{name.rsplit('.', 1)[-1]}.json").read_text()), {"public_key": "", "signatures": {}}


def replay(name: str, policy_dir: Path, tmp_path: Path) -> list[str]:
    events, platform = _events(name)
    dirs = [policy_dir]
    if platform.get("public_key"):
        dirs.append(publish(platform, tmp_path))
    engine = DetectionEngine(load_rules([DEFAULT_RULE_DIR]), load_policy(dirs))
    fired = []
    for event in sorted(events, key=lambda e: float(e["event.created"])):
        fired.extend(alert.rule_id for alert in engine.process(dict(event)))
    return [rule for rule in fired if rule in HOST_RULES]


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Only the policy these rules read, so the test does not depend on other slices' files.
    directory = tmp_path_factory.mktemp("policy")
    shutil.copy(DEFAULT_POLICY_DIR / "declared_changes.yaml", directory)
    return directory


@pytest.mark.parametrize(("rule", "recording"), [(r, n) for r, names in FIRES.items() for n in names])
def test_rule_fires_on_its_adversary_recording(rule: str, recording: str, policy_dir: Path, tmp_path: Path):
    assert rule in replay(recording, policy_dir, tmp_path)


@pytest.mark.parametrize("recording", BENIGN)
def test_benign_twins_raise_nothing(recording: str, policy_dir: Path, tmp_path: Path):
    assert replay(recording, policy_dir, tmp_path) == []


def test_declared_cron_file_alerts_without_its_declaration(tmp_path: Path):
    # Same telemetry, no declaration: what keeps the managed service quiet is the policy.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "stowaway.host.fim-cron" in replay("docker.fim.config-management", empty, tmp_path)


def test_the_declaration_binds_to_the_signed_image_not_the_label(policy_dir: Path, tmp_path: Path):
    # The look-alike carries the managed-by label and writes the declared path; it is not the image.
    events, _ = _events("docker.fim.managed-cron-lookalike")
    assert any(e.get("container.labels.app.kubernetes.io/managed-by") == "confd" for e in events)
    assert any(str(e.get("file.path_in_container", "")).startswith("/etc/cron.d/") for e in events)
    assert "stowaway.host.fim-cron" in replay("docker.fim.managed-cron-lookalike", policy_dir, tmp_path)


def test_a_build_runs_no_step_as_a_container():
    # BuildKit runs the RUN step inside the engine's builder: no exec of the installed tool's
    # post-install check (report-render true) is attributed to any container of the twin.
    events, _ = _events("docker.drop.build-package-install")
    assert not [e for e in events if e.get("event.dataset") == "linux.process"
                and e.get("process.command_line") == "/usr/local/bin/report-render true"]


def test_rules_fire_once_per_container(policy_dir: Path, tmp_path: Path):
    assert replay("docker.masquerade.tmp-kworker", policy_dir, tmp_path).count("stowaway.host.exec-from-temp-dir") == 1


@pytest.mark.parametrize("path", [*sorted(HOST.glob("*.json")), *sorted(RECORDED.glob("*.json"))], ids=lambda p: p.stem)
def test_fixtures_carry_no_lab_bookkeeping(path: Path):
    text = path.read_text()
    assert "io.stowaway" not in text and '"policy.' not in text
