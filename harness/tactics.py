"""The ATT&CK tactics of the pinned catalogue's techniques (``tactics.yaml``, beside this module).

``scenarios/attack.yaml`` names each technique; this file says which tactics it serves, in the
Enterprise matrix's order, for the same ATT&CK version (tests/unit/test_tactics.py fails when the two
disagree). Reports group scenarios by tactic and ``stowaway list --tactic`` filters by one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

TACTICS_PATH = Path(__file__).with_name("tactics.yaml")


@dataclass(frozen=True, slots=True)
class Tactic:
    short_name: str  # "defense-evasion": as in ATT&CK's kill-chain phases and Sigma's attack.* tags
    id: str  # "TA0005"
    name: str  # "Defense Evasion"


@dataclass(frozen=True, slots=True)
class TacticMap:
    version: str  # the ATT&CK version, as in scenarios/attack.yaml
    tactics: tuple[Tactic, ...]  # the Enterprise matrix's order
    techniques: dict[str, tuple[str, ...]]  # technique id -> tactic short names, in the matrix's order

    def tactic(self, short_name: str) -> Tactic:
        return next(t for t in self.tactics if t.short_name == short_name)

    def of(self, technique: str) -> tuple[Tactic, ...]:
        """The tactics of ``technique``; a sub-technique missing here has its parent's; () when unknown."""
        names = self.techniques.get(technique) or self.techniques.get(technique.split(".", 1)[0], ())
        return tuple(self.tactic(n) for n in names)

    def of_all(self, techniques: Iterable[str]) -> tuple[Tactic, ...]:
        """Every tactic any of ``techniques`` serves, in the matrix's order."""
        found = {t.short_name for technique in techniques for t in self.of(technique)}
        return tuple(t for t in self.tactics if t.short_name in found)

    def primary(self, techniques: Iterable[str]) -> Tactic | None:
        """Where a scenario sits when rows are grouped by tactic: the first tactic of its first
        technique that has one (scenarios list their main technique first)."""
        return next((tactics[0] for tactics in map(self.of, techniques) if tactics), None)

    def find(self, text: str) -> Tactic | None:
        """A tactic by short name, name or id, any case: ``defense-evasion``, "Defense Evasion", TA0005."""
        wanted = text.strip().casefold()
        return next((t for t in self.tactics
                     if wanted in (t.short_name, t.name.casefold(), t.id.casefold(), t.short_name.replace("-", " "))),
                    None)

    def order(self, tactic: Tactic | None) -> int:
        """Sort key: the matrix's order, techniques without a known tactic last."""
        return len(self.tactics) if tactic is None else self.tactics.index(tactic)


@functools.cache
def tactic_map(path: Path = TACTICS_PATH) -> TacticMap:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    tactics = tuple(Tactic(short, str(entry["id"]), str(entry["name"])) for short, entry in data["tactics"].items())
    known = [t.short_name for t in tactics]
    techniques: dict[str, tuple[str, ...]] = {}
    for technique, names in data["techniques"].items():
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"{path}: techniques.{technique}: unknown tactic {', '.join(unknown)}")
        techniques[str(technique)] = tuple(sorted(names, key=known.index))
    return TacticMap(version=str(data["attack_version"]), tactics=tactics, techniques=techniques)
