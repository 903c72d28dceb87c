"""The pinned ATT&CK catalog (``attack.yaml``): version, technique names, moved ids."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

CATALOG_PATH = Path(__file__).with_name("attack.yaml")


@dataclass(frozen=True, slots=True)
class AttackCatalog:
    domain: str
    version: str
    seed_label: str
    techniques: dict[str, str]
    moved: dict[str, str]

    def name(self, technique: str) -> str:
        return self.techniques.get(technique, technique)

    def resolve(self, technique: str) -> str:
        return self.moved.get(technique, technique)


@functools.cache
def catalog(path: Path = CATALOG_PATH) -> AttackCatalog:
    data = yaml.safe_load(path.read_text())
    attack = data["attack"]
    return AttackCatalog(domain=attack["domain"], version=str(attack["version"]), seed_label=attack["seed_label"],
                         techniques=dict(data["techniques"]), moved=dict(data.get("moved") or {}))
