"""Every shipped rule must parse with pySigma too, so sigma-cli can carry it into a SIEM unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.collection import SigmaCollection

from detectors.sigma import load_rule

RULES_DIR = Path(__file__).resolve().parents[2] / "detectors" / "rules"
RULE_FILES = sorted(path for path in RULES_DIR.rglob("*") if path.suffix in (".yml", ".yaml"))

# Used when no rule is shipped yet, and always as a check that the features the local engine
# accepts are ones pySigma accepts as well.
SAMPLE_RULE = r"""
title: Privileged container with the docker socket, outside the sanctioned agents
name: stowaway.sample.privileged-socket
id: 0f7c6b1e-2d4a-4c8e-9b3f-5a6d7e8f9a0b
status: experimental
description: Sample rule exercising the modifiers the local engine supports.
level: high
tags:
    - attack.privilege-escalation
    - attack.t1611
logsource:
    product: docker
    service: events
detection:
    selection:
        event.action: start
        container.privileged: true
        container.mounts.source|endswith:
            - /docker.sock
            - /containerd.sock
    sel_net:
        container.network.names|contains|all:
            - lan
            - stw
        destination.ip|cidr:
            - 198.18.0.0/15
            - fd00::/8
        container.cpu.pct|gte: 90
    sel_misc:
        process.command_line|re|i: 'nsenter\s+-t\s*1'
        container.labels|exists: false
        source.ip|fieldref: destination.ip
        container.image.name|expand|startswith: '%approved_registries%/'
        container.name|cased: 'Web-?'
        container.user: null
    filter_agents:
        container.image.name|startswith: registry.lab/agents/
    condition: (selection or 1 of sel_*) and not filter_agents
falsepositives:
    - sanctioned infrastructure agents
response: Stop the container and review who started it.
"""
PLACEHOLDERS = {"approved_registries": ["registry.lab", "mirror.lab"]}


def _rule_paths() -> list[Path | None]:
    return [*RULE_FILES, None]  # None stands for the sample rule


@pytest.mark.parametrize("shipped", _rule_paths(), ids=[p.name if p else "sample-rule" for p in _rule_paths()])
def test_rule_parses_with_pysigma_and_with_our_engine(shipped: Path | None, tmp_path: Path) -> None:
    path = shipped
    if path is None:
        path = tmp_path / "sample.yml"
        path.write_text(SAMPLE_RULE)
    collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"), collect_errors=True)
    assert collection.errors == []
    assert len(collection.rules) == 1, "one rule per file"
    pysigma_rule = collection.rules[0]
    assert pysigma_rule.errors == [], [str(error) for error in pysigma_rule.errors]

    ours = load_rule(path, PLACEHOLDERS)
    assert ours.rule_id == pysigma_rule.name
    assert ours.uuid == str(pysigma_rule.id)
    assert ours.title == pysigma_rule.title
    if pysigma_rule.level is not None:
        assert ours.level == str(pysigma_rule.level)
