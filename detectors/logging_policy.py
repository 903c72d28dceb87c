"""Logging policy kinds, owned by a platform team.

- ``logging``: contexts where minimal logging is sanctioned (the dev network's containers, ...),
  bound to what the platform controls (signed images, network ids), never to names or labels.
- ``log_retention``: how much log a container must keep locally so the shipper can catch up
  (json-file and local drivers' max-size x max-file, with moby's defaults).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.platform import UNBOUND, Platform
from detectors.policies import PolicyError, _expect, _known, register_policy_kind
from detectors.runtime_policy import _entry_head
from detectors.sanction import Provenanced


# --- logging ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoggingSanction:
    name: str
    owner: str
    description: str
    match: Provenanced


@register_policy_kind
@dataclass(slots=True)
class LoggingPolicy:
    """Where a container may run with minimal or no logging: bound to platform networks or signed images."""

    kind: ClassVar[str] = "logging"
    sanction_lists: ClassVar[tuple[str, ...]] = ("sanctioned_minimal_logging",)
    requires_field: ClassVar[str] = "container.logging.driver"  # enrich tests it first (detectors.routing)
    sanctioned: list[LoggingSanction] = field(default_factory=list)
    platform: Platform = UNBOUND

    def bind(self, policy: Any) -> None:
        self.platform = Platform(policy)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "sanctioned_minimal_logging"), path, "")
        entries = _expect(body.get("sanctioned_minimal_logging", []), list, path, "sanctioned_minimal_logging")
        for i, entry in enumerate(entries):
            where = f"sanctioned_minimal_logging[{i}]."
            data = _entry_head(entry, path, where, ("name", "owner", "description", "match"),
                               ("name", "owner", "description", "match"))
            self.sanctioned.append(LoggingSanction(data["name"], data["owner"], data["description"],
                                                   Provenanced.load(data["match"], path, f"{where}match.")))

    def enrich(self, event: Event) -> None:
        if "container.logging.driver" not in event:
            return
        hit = next((s for s in self.sanctioned if s.match.matches(event, self.platform)), None)
        event["policy.logging.sanctioned"] = hit is not None
        if hit is not None:
            event["policy.logging.sanction"] = hit.name


# --- log retention ----------------------------------------------------------------------------------
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# Engine defaults when an option is not set (moby: json-file keeps one unbounded file; local keeps
# five files of 20 MB).
_DRIVER_DEFAULTS = {"json-file": (None, 1), "local": (20 * 1024**2, 5)}


def parse_size(text: str) -> int | None:
    match = _SIZE.match(text)
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def retained_bytes(driver: str, options: dict[str, str]) -> int | None:
    """How many bytes of log the driver keeps at most (None: unbounded or not a local file driver)."""
    if driver not in _DRIVER_DEFAULTS:
        return None
    default_size, default_files = _DRIVER_DEFAULTS[driver]
    size = parse_size(options["max-size"]) if "max-size" in options else default_size
    if size is None or size <= 0:
        return None
    try:
        files = int(options.get("max-file", default_files))
    except ValueError:
        files = default_files
    return size * max(files, 1)


@dataclass(slots=True)
class LogRetentionPolicy:
    """The least a container's local log must be able to hold."""

    kind: ClassVar[str] = "log_retention"
    requires_field: ClassVar[str] = "container.logging.driver"  # enrich tests it first (detectors.routing)
    minimum_bytes: int = 0
    owner: str = ""
    description: str = ""

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "minimum_local_log", "owner", "description"), path, "")
        for key in ("minimum_local_log", "owner", "description"):
            if key not in body:
                raise PolicyError(path, key, "missing")
        size = parse_size(str(_expect(body["minimum_local_log"], str, path, "minimum_local_log")))
        if size is None:
            raise PolicyError(path, "minimum_local_log", "expected a size such as '2m' or '512k'")
        self.minimum_bytes = max(self.minimum_bytes, size)
        self.owner = _expect(body["owner"], str, path, "owner")
        self.description = _expect(body["description"], str, path, "description")

    def enrich(self, event: Event) -> None:
        driver = event.get("container.logging.driver")
        if not driver:
            return
        prefix = "container.logging.options."
        options = {k[len(prefix):]: str(v) for k, v in event.items() if k.startswith(prefix)}
        kept = retained_bytes(str(driver), options)
        if kept is not None:
            event["policy.logging.retained_bytes"] = kept
        event["policy.logging.retention_below_minimum"] = kept is not None and kept < self.minimum_bytes


register_policy_kind(LogRetentionPolicy)
