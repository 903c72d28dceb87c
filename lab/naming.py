"""Names the lab gives its own bookkeeping, in one place both the lab and the detectors import.

The lab labels what it creates, comments its iptables rules and names the tracefs instances its
sensors own, so that a reaper can find what a dead run left. The detectors need the same formats
the other way round: to drop bookkeeping labels before any rule sees an event (a defender's real
telemetry would not carry them) and to name their tracefs instances so the reaper finds them.
"""

from __future__ import annotations

LABEL_PREFIX = "io.stowaway."
RUN_LABEL = LABEL_PREFIX + "run"
IPTABLES_COMMENT_PREFIX = "stowaway:"
TRACEFS_INSTANCE_PREFIX = "stowaway-"


def is_bookkeeping_label(key: str) -> bool:
    return key.startswith(LABEL_PREFIX)


def tracefs_instance(run_id: str, sensor: str) -> str:
    """``stowaway-<run id>-<sensor>``: the tracefs instance a run's sensor owns."""
    return f"{TRACEFS_INSTANCE_PREFIX}{run_id}-{sensor}"


def run_of_tracefs_instance(name: str) -> str | None:
    """The run id in a lab tracefs instance name (a run id is three dash-joined parts); None for others."""
    if not name.startswith(TRACEFS_INSTANCE_PREFIX):
        return None
    parts = name[len(TRACEFS_INSTANCE_PREFIX):].split("-")
    return "-".join(parts[:3]) if len(parts) >= 3 else None
