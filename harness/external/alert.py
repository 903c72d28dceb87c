"""An alert from a detector that is not Stowaway's own, read from what that tool writes.

Every format adapter (Falco, Tetragon, ECS, auditd, the generic form) turns one record of the tool's
output into an ``ExternalAlert``: the rule that fired, when, and whatever the record says about
*where* it fired (a container id, a pod, a process id). The harness attributes it to a scenario's
objects from those fields alone, the way it attributes the embedded detectors' alerts: by the
objects the lab reports and the time window, never by names a scenario chose.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ExternalAlert:
    detector: str  # the tool's name as the run knows it ("falco", "auditd", a SIEM's name)
    rule: str  # the tool's rule name or id (a Falco rule, an audit key, a SIEM rule id)
    time: float  # when the tool says it happened (epoch seconds)
    severity: str = ""  # the tool's own level, as written ("Warning", "high", ...)
    summary: str = ""  # the tool's one-line output, for humans
    container_id: str = ""  # full or short (12+ hex) container id, without a runtime prefix
    pod_namespace: str = ""
    pod_name: str = ""
    pid: int = 0  # the host pid of the process it concerns (0: not given)
    ppid: int = 0  # its parent's host pid (0: not given)
    source: str = ""  # where it was read: "file:<path>:<line>", "http:<n>", "auditd:<serial>"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AlertFormatError(ValueError):
    """A record the adapter cannot read as an alert; the message names the field."""
