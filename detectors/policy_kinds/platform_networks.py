"""Policy kind ``platform_networks``: the engine networks the platform created, by id.

Written by the platform into its published policy directory (``lab.platform_networks``), each
network with its purpose and whether the orchestrator owns it::

    kind: platform_networks
    networks:
      - {id: <engine network id>, network: <its name, for people>, purpose: dev, orchestrated: false}

Sanctions ask ``network(id)`` (through ``detectors.platform.Platform``). An unknown id is not the
platform's, and a network's name is never read. The inventory is rewritten while monitors run (a run
creates networks after its monitor started): an id not yet known re-reads the files it came from,
at most every half second.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from detectors import schema
from detectors.policies import PolicyKind, register_policy_kind
from detectors.schema import one_of, setting

NETWORK_PURPOSES = ("lan", "dev", "internet")
_RELOAD_EVERY_S = 0.5  # an unknown network id re-reads the inventory at most this often


@dataclass(frozen=True, slots=True)
class PlatformNetwork:
    id: str = setting(doc="the engine's network id")
    purpose: str = setting(doc="what the platform made it for: lan, dev or internet",
                           check=one_of(NETWORK_PURPOSES, "purpose"))
    name: str = setting("", key="network", doc="its name, for people (never read by a sanction)")
    orchestrated: bool = setting(False, doc="the orchestrator owns it (a Swarm overlay)")


@dataclass(frozen=True, slots=True)
class NetworkInventory:
    """One inventory file (the kind keeps the union of its files, by id, re-read as they change)."""

    networks: tuple[PlatformNetwork, ...] | None = setting(None, doc="the networks the platform created")


def _read(body: Any, path: Path) -> tuple[PlatformNetwork, ...]:
    return schema.load(NetworkInventory, body, path, "", ignore=("kind",)).networks or ()


@register_policy_kind
@dataclass(slots=True)
class PlatformNetworksPolicy(PolicyKind):
    kind: ClassVar[str] = "platform_networks"
    writes: ClassVar[tuple[str, ...] | None] = ()
    applies_to: ClassVar[frozenset[str]] = frozenset()  # enriches nothing: sanctions ask it directly
    file_schema: ClassVar[type] = NetworkInventory
    networks: dict[str, PlatformNetwork] = field(default_factory=dict, init=False)
    _sources: dict[Path, float] = field(default_factory=dict, init=False, repr=False)  # file -> mtime when read
    _last_reload: float = field(default=0.0, init=False)
    reload_errors: int = field(default=0, init=False)

    def load(self, body: dict[str, Any], path: Path) -> None:
        for network in _read(body, path):
            self.networks[network.id] = network
        with contextlib.suppress(OSError):
            self._sources[path] = path.stat().st_mtime

    def network(self, network_id: Any) -> PlatformNetwork | None:
        if not isinstance(network_id, str):
            return None
        found = self.networks.get(network_id)
        if found is None and self._reload():
            found = self.networks.get(network_id)
        return found

    def _reload(self) -> bool:
        now = time.monotonic()
        if now - self._last_reload < _RELOAD_EVERY_S:
            return False
        self._last_reload = now
        changed = False
        fresh: dict[str, PlatformNetwork] = {}
        for source, seen in list(self._sources.items()):
            try:
                mtime = source.stat().st_mtime
                changed = changed or mtime != seen
                fresh.update((n.id, n) for n in _read(yaml.safe_load(source.read_text()), source))
                self._sources[source] = mtime
            except (OSError, ValueError, yaml.YAMLError):
                # Rewritten atomically, so this is a file removed or broken by hand: keep what we knew.
                self.reload_errors += 1
                return False
        if changed:
            self.networks = fresh
        return changed
