"""Policy kind ``log_retention``: the least a container's local log must be able to hold.

The shipper catches up from the local log, so a json-file or local driver whose max-size x max-file
(with moby's defaults) is below the minimum loses log before it ships. Several files: the largest
minimum holds. Enrichment: ``policy.logging.retained_bytes`` and
``policy.logging.retention_below_minimum``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.policies import PolicyKind, register_policy_kind
from detectors.schema import setting

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


def _size(text: str, policy_file: Path) -> int:
    size = parse_size(text)
    if size is None:
        raise ValueError("expected a size such as '2m' or '512k'")
    return size


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


@register_policy_kind
@dataclass(slots=True)
class LogRetentionPolicy(PolicyKind):
    kind: ClassVar[str] = "log_retention"
    writes: ClassVar[tuple[str, ...] | None] = (
        "policy.logging.retained_bytes", "policy.logging.retention_below_minimum")
    requires_field: ClassVar[str] = "container.logging.driver"  # enrich tests it first (detectors.routing)
    minimum_bytes: int = setting(0, key="minimum_local_log", required=True, parse=_size,
                                 doc="a size such as '2m': the least max-size x max-file may keep")
    owner: str = setting("", required=True, doc="the team that answers for the minimum")
    description: str = setting("", required=True, doc="why this minimum")

    def merge(self, name: str, value: Any) -> None:
        if name == "minimum_bytes":
            value = max(self.minimum_bytes, value)  # of several files, the strictest minimum holds
        PolicyKind.merge(self, name, value)

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
