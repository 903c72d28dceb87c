"""Extension points, through a real installed distribution: a package on sys.path with a dist-info
that declares entry points, the way ``pip install`` leaves one (docs/architecture.md walks through it)."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from detectors.analytics import analytic_ids
from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, Monitor, load_rules
from detectors.policies import POLICY_KINDS, PolicyError, policy_kinds
from detectors.sensors.base import SensorContext
from harness.monitoring import installed_sensors, known_detector_ids, rule_dirs_or_default
from lab import plugins
from scenarios import registry

SENSOR = '''
"""A sensor from outside: reports the engine's container count once a second."""

from typing import ClassVar


class ContainerCountSensor:
    name: ClassVar[str] = "container-count"

    def __init__(self, context):
        self.client = context.engine_client
        self.emitted = 0

    def start(self, emit):
        from detectors.event import new_event

        event = new_event("acme", "acme.inventory", "count")
        event["acme.containers"] = len(self.client.containers())
        emit(event)
        self.emitted += 1

    def stop(self):
        pass

    @property
    def stats(self):
        return {"emitted": self.emitted}


def make_sensor(context):
    return ContainerCountSensor(context)
'''

RULE = """\
title: The engine runs no container at all
name: acme.no-containers
id: 5d1f0e9a-3c2b-4f7e-9a1d-2b3c4d5e6f70
status: experimental
description: The inventory sensor counted zero containers.
author: ACME
date: 2026-11-30
logsource:
  product: acme
  service: inventory
detection:
  selection:
    acme.containers: 0
  condition: selection
level: low
tags:
  - attack.discovery
"""


def install(site: Path, dist: str, package: str, files: dict[str, str], entry_points: str) -> None:
    """What pip leaves: the package, and a dist-info whose entry_points.txt declares the plugins."""
    for name, text in files.items():
        path = site / package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture()
def site(tmp_path: Path) -> Iterator[Path]:
    site = tmp_path / "site-packages"
    site.mkdir()
    sys.path.insert(0, str(site))
    yield site
    sys.path.remove(str(site))
    for name in [m for m in sys.modules if m.startswith("acme_")]:
        del sys.modules[name]
    for kind in [k for k, cls in POLICY_KINDS.items() if cls.__module__.startswith("acme_")]:
        del POLICY_KINDS[kind]  # registration is process-wide; the next test must not see the pack


class FakeEngineApi:
    def containers(self) -> list[dict]:
        return []


def test_an_installed_sensor_and_rule_pack_join_the_monitor(site: Path) -> None:
    install(site, "acme-stowaway", "acme_stowaway", {"__init__.py": SENSOR, "rules/__init__.py": "",
                                                     "rules/no_containers.yml": RULE}, """
        [stowaway.sensors]
        container-count = acme_stowaway:make_sensor

        [stowaway.rules]
        acme = acme_stowaway.rules
    """)
    dirs = rule_dirs_or_default(())
    assert dirs[0] == DEFAULT_RULE_DIR and dirs[1] == site / "acme_stowaway" / "rules"
    assert "acme.no-containers" in known_detector_ids()
    sensors = installed_sensors(SensorContext(engine_client=FakeEngineApi(), instance_id="run-1-m1"))
    assert [s.name for s in sensors] == ["container-count"]
    engine = DetectionEngine(load_rules(dirs))
    monitor = Monitor(engine, sensors)
    monitor.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not monitor.alerts:
        time.sleep(0.05)
    monitor.stop()
    assert [a.rule_id for a in monitor.alerts] == ["acme.no-containers"]


def test_an_installed_scenario_pack_is_in_the_catalogue(site: Path) -> None:
    builtin = next(p for p in (registry.BUILTIN_ROOT / "docker" / "logging").glob("log_driver_none.py"))
    install(site, "acme-pack", "acme_pack", {"__init__.py": "", "docker/logging/log_driver_none_again.py":
                                             builtin.read_text().replace("docker.logging.log-driver-none",
                                                                         "docker.logging.log-driver-none-again")},
            """
        [stowaway.scenarios]
        acme = acme_pack
    """)
    loaded = registry.load()
    assert "docker.logging.log-driver-none-again" in loaded.scenarios
    assert loaded.sources["docker.logging.log-driver-none-again"].startswith(str(site))


def test_an_installed_analytic_and_policy_kind_register(site: Path) -> None:
    install(site, "acme-more", "acme_more", {"__init__.py": '''
        class QuietAnalytic:
            rule_id = "acme.quiet"

            def __init__(self, policy):
                self.policy = policy


        class WindowsPolicy:
            kind = "acme_windows"
    '''}, """
        [stowaway.analytics]
        quiet = acme_more:QuietAnalytic

        [stowaway.policy_kinds]
        windows = acme_more:WindowsPolicy
    """)
    assert "acme.quiet" in analytic_ids()
    assert policy_kinds()["acme_windows"].__module__ == "acme_more"


def test_a_broken_plugin_is_named_with_its_distribution(site: Path) -> None:
    install(site, "acme-broken", "acme_broken", {"__init__.py": "raise ImportError('no module named bpf')\n"}, """
        [stowaway.policy_kinds]
        bpf = acme_broken:Kind
    """)
    with pytest.raises(PolicyError, match=r"'bpf' in stowaway.policy_kinds \(distribution acme-broken\).*bpf"):
        policy_kinds()
    with pytest.raises(plugins.PluginError, match="unknown plugin group"):
        plugins.load("stowaway.responders")
