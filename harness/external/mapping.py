"""Detector mapping files: which of another tool's rules should fire for which scenario.

One YAML file per external detector::

    detector: auditd             # the name its alerts carry and its scorecard column shows
    format: auditd               # falco | tetragon | ecs | generic | auditd
    about: Debian's auditd 3.0.9 with its STIG and container example rules
    expect:
      docker.escape.nsenter-host:          # a scenario id; its variants are judged by it too
        fires: [container-config]          # every one of these rules must alert on its objects
        why: nsenter calls setns(2) into the host's namespaces
    ignore:                                 # rules whose output is telemetry, not an alert
      container-create: the runtime clones every container with namespace flags

A scenario the file does not name is reported as "no expectation", never as a pass. A benign
scenario needs no entry: every alert on a benign twin or the fleet is a false positive of the rule
that raised it, for every detector, unless the file ignores that rule, and an ignored rule is listed
with its reason on the scorecard, so nobody can hide a noisy rule quietly.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.yamlfile import FileFieldError, read_mapping, text

FORMATS = ("falco", "tetragon", "ecs", "generic", "auditd")
SHIPPED_DIR = Path(__file__).resolve().parent / "maps"
_TOP = {"detector", "format", "about", "expect", "ignore"}
_ENTRY = {"fires", "why"}


class MappingError(FileFieldError):
    """A mapping file is broken. The message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Expected:
    fires: tuple[str, ...]  # every one must alert on the scenario's objects in its window
    why: str = ""


@dataclass(frozen=True, slots=True)
class DetectorMapping:
    detector: str
    format: str
    path: str  # where it was read, for the scorecard and error messages
    about: str = ""
    expect: dict[str, Expected] = field(default_factory=dict)  # scenario id -> expectation
    ignore: dict[str, str] = field(default_factory=dict)  # rule -> why its alerts are not judged

    def expected_for(self, scenario_id: str, variant_of: str | None = None) -> Expected | None:
        """A variant is judged by its scenario's entry: the technique is the same."""
        return self.expect.get(scenario_id) or (self.expect.get(variant_of) if variant_of else None)

    @staticmethod
    def empty(detector: str, fmt: str) -> DetectorMapping:
        """No mapping file: every adversary is "no expectation", every twin is still judged."""
        return DetectorMapping(detector=detector, format=fmt, path="")


def _text(path: Path, where: str, value: Any) -> str:
    return text(path, where, value, MappingError)


def load_mapping(path: Path, scenario_ids: Collection[str] | None = None) -> DetectorMapping:
    """Read and check one mapping file. ``scenario_ids``, when given, are the ids a run or
    ``validate`` knows: an entry naming another is a typo, refused here."""
    data = read_mapping(path, MappingError, "detector, format and expect", _TOP)
    detector = _text(path, "detector", data.get("detector"))
    fmt = _text(path, "format", data.get("format"))
    if fmt not in FORMATS:
        raise MappingError(path, "format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    about = _text(path, "about", data["about"]) if "about" in data else ""
    return DetectorMapping(detector=detector, format=fmt, path=str(path), about=about,
                           expect=_expectations(path, data.get("expect") or {}, scenario_ids),
                           ignore=_ignored(path, data.get("ignore") or {}))


def _expectations(path: Path, raw: Any, scenario_ids: Collection[str] | None) -> dict[str, Expected]:
    if not isinstance(raw, dict):
        raise MappingError(path, "expect", "must map scenario ids to {fires: [...], why: ...}")
    out = {}
    for scenario_id, entry in raw.items():
        where = f"expect.{scenario_id}"
        if scenario_ids is not None and scenario_id not in scenario_ids:
            raise MappingError(path, where, "names no known scenario")
        if not isinstance(entry, dict):
            raise MappingError(path, where, "must be {fires: [rules], why: text}")
        unknown = sorted(set(entry) - _ENTRY)
        if unknown:
            raise MappingError(path, f"{where}.{unknown[0]}", "unknown key (known: fires, why)")
        fires = entry.get("fires")
        if isinstance(fires, str):
            fires = [fires]
        if not isinstance(fires, list) or not fires:
            raise MappingError(path, f"{where}.fires", "must be a non-empty list of the tool's rule names")
        rules = tuple(_text(path, f"{where}.fires[{i}]", rule) for i, rule in enumerate(fires))
        why = _text(path, f"{where}.why", entry["why"]) if "why" in entry else ""
        out[str(scenario_id)] = Expected(fires=rules, why=why)
    return out


def _ignored(path: Path, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise MappingError(path, "ignore", "must map a rule to why its alerts are not judged")
    return {_text(path, f"ignore.{rule}", str(rule)): _text(path, f"ignore.{rule}", why) for rule, why in raw.items()}


def shipped_mappings() -> list[Path]:
    return sorted(SHIPPED_DIR.glob("*.yaml"))


def load_mappings(paths: Iterable[Path], scenario_ids: Collection[str] | None = None) -> dict[str, DetectorMapping]:
    """Mapping files by detector name; two files for one detector are refused (which one wins
    would be an accident of order)."""
    found: dict[str, DetectorMapping] = {}
    for path in paths:
        mapping = load_mapping(path, scenario_ids)
        if mapping.detector in found:
            raise MappingError(path, "detector",
                               f"{mapping.detector!r} is mapped already by {found[mapping.detector].path}")
        found[mapping.detector] = mapping
    return found
