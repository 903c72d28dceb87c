"""The platform's network inventory: which engine networks the platform created, and what for.

A network's name is chosen by whoever creates it: anyone with the engine socket can make a network
called ``something-dev``. Its id is not: the engine draws it at random. So the platform records the
ids of the networks it creates, with their purpose, in a file its detectors load like any other
policy (``<state>/policy/platform-networks.yaml``), and sanctions that depend on placement (the dev
network's logging exemption, the proxy's networks, the lab internet's "outside" zone) bind to those
ids, never to a name.

Purposes are the platform's words, not a scenario's: ``lan`` (where workloads live), ``dev`` (the
sanctioned development network), ``internet`` (the lab's stand-in for the outside world, where the
sinkhole lives). ``orchestrated`` marks the overlays the orchestrator (Swarm) owns.

Parallel runs share the file: every change is a read-modify-write under a lock, written atomically.
A run withdraws its own networks at teardown; the reaper drops entries whose network is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lab.networks import LabNetwork
from lab.paths import LabPaths

INVENTORY_FILE = "platform-networks.yaml"
PURPOSES = {"lan": "lan", "dev": "dev", "inet": "internet"}  # lab network role -> the platform's purpose
_HEADER = (
    "# Published by the lab's platform: the networks it created, by engine id, and what each is for.\n"
    "# Rewritten as runs create and remove networks. Do not edit.\n"
)


def inventory_path(paths: LabPaths) -> Path:
    return paths.published_policy / INVENTORY_FILE


def publish(paths: LabPaths, networks: Iterable[LabNetwork], orchestrated: bool = False) -> None:
    """Add these networks to the inventory (idempotent)."""
    entries = [{"id": n.id, "network": n.name, "purpose": PURPOSES.get(n.role, n.role), "orchestrated": orchestrated}
               for n in networks]
    with _edit(paths) as current:
        known = {e.get("id") for e in current}
        current.extend(e for e in entries if e["id"] not in known)


def withdraw(paths: LabPaths, ids: Iterable[str]) -> None:
    gone = set(ids)
    with _edit(paths) as current:
        current[:] = [e for e in current if e.get("id") not in gone]


def prune(paths: LabPaths, existing: set[str]) -> int:
    """Drop entries whose network no longer exists on the engine. Returns how many went."""
    removed = 0
    with _edit(paths) as current:
        kept = [e for e in current if e.get("id") in existing]
        removed = len(current) - len(kept)
        current[:] = kept
    return removed


def read(paths: LabPaths) -> list[dict[str, Any]]:
    path = inventory_path(paths)
    with contextlib.suppress(OSError, ValueError, AttributeError):
        import yaml

        body = yaml.safe_load(path.read_text()) or {}
        networks = body.get("networks")
        if isinstance(networks, list):
            return [e for e in networks if isinstance(e, dict)]
    return []


@contextlib.contextmanager
def _edit(paths: LabPaths) -> Iterator[list[dict[str, Any]]]:
    paths.runtime.mkdir(parents=True, exist_ok=True)
    with open(paths.runtime / "platform-networks.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = read(paths)
            before = json.dumps(current, sort_keys=True)
            yield current
            if json.dumps(current, sort_keys=True) != before or not inventory_path(paths).exists():
                _write(paths, current)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(paths: LabPaths, entries: list[dict[str, Any]]) -> None:
    path = inventory_path(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON is YAML: one entry per line keeps the file readable and the writer trivial.
    lines = [_HEADER, "kind: platform_networks\n", "networks:\n" if entries else "networks: []\n"]
    lines += [f"  - {json.dumps(e, sort_keys=True)}\n" for e in entries]
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text("".join(lines))
    os.replace(tmp, path)
