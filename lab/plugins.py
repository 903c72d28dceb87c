"""Extension points: what an installed package adds to Stowaway, declared as entry points.

A third-party package adds a sensor, an analytic, a policy kind, a scenario pack or a folder of
Sigma rules by declaring an entry point in one of these groups (``pyproject.toml``)::

    [project.entry-points."stowaway.sensors"]
    conntrack = "acme_stowaway.sensors:make_conntrack_sensor"

Installing the package is all it takes. Every package reads its own group through ``load``; a
plugin that cannot be imported stops the run before anything starts, with an error naming the
entry point and the distribution that declared it. ``docs/architecture.md`` has a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

GROUPS = {
    "stowaway.sensors": "a callable(SensorContext) -> Sensor (detectors.sensors.base)",
    "stowaway.analytics": "an Analytic factory: a callable(Policy) -> Analytic with a rule_id attribute",
    "stowaway.policy_kinds": "a policy kind class (detectors.policies.register_policy_kind)",
    "stowaway.scenarios": "a package whose directory is a scenario root (ids are paths under it)",
    "stowaway.rules": "a package whose directory holds Sigma rules (searched recursively)",
}


class PluginError(Exception):
    """An installed plugin is broken. The message names the entry point and its distribution."""


@dataclass(frozen=True, slots=True)
class Plugin:
    group: str
    name: str
    distribution: str
    target: Any  # what the entry point names, loaded

    def where(self) -> str:
        return f"entry point {self.name!r} in {self.group} (distribution {self.distribution})"

    def directory(self) -> Path:
        """For the folder groups: the directory of the package the entry point names."""
        if not isinstance(self.target, ModuleType) or not getattr(self.target, "__file__", None):
            raise PluginError(f"{self.where()}: must name a package (a directory with __init__.py)")
        return Path(str(self.target.__file__)).parent


def load(group: str) -> list[Plugin]:
    """Every installed plugin of ``group``, loaded, sorted by name (a stable order across runs).

    Raises:
        PluginError: an unknown group, or an entry point that does not import.
    """
    if group not in GROUPS:
        raise PluginError(f"unknown plugin group {group!r} (known: {', '.join(sorted(GROUPS))})")
    found = []
    for entry in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
        distribution = entry.dist.name if entry.dist is not None else "?"
        try:
            target = entry.load()
        except Exception as exc:
            raise PluginError(f"entry point {entry.name!r} in {group} (distribution {distribution}): "
                              f"{entry.value} failed to import: {type(exc).__name__}: {exc}") from exc
        found.append(Plugin(group=group, name=entry.name, distribution=distribution, target=target))
    return found
