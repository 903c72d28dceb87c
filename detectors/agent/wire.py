"""What the node agent writes and the harness reads: one JSON object per line, on the agent's stdout.

Why stdout: the kubelet keeps a container's output and the API server serves it (``kubectl logs
-f``), so whoever can read pod logs in the agent's namespace can follow every node's agent, on kind
or on any cluster, through the same authenticated path as every other API call. Nothing listens on
a node port, and the agent needs no credentials of its own.

Three kinds of line, each with ``"agent": VERSION``:

- ``hello``: the agent started; its node, how often it reports its health, and the sensors it runs,
  each with its state (``running``, or ``unavailable`` and why: the reader shows that instead of
  guessing from silence);
- ``event``: one sensor event, as the sensor emitted it (``observer.name`` is the agent's sensor);
- ``health``: every ``HEALTH_INTERVAL_S``, each sensor's state and counters.

A line that is not this is counted by the reader and skipped, never passed on as an event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
HEALTH_INTERVAL_S = 10.0  # the reader calls an agent silent after three of these without a line
MAX_LINE = 1 << 20  # an event line longer than this is the agent's bug, not telemetry


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def encode(kind: str, **body: Any) -> str:
    return json.dumps({"agent": VERSION, "type": kind, **body}, default=_default, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Line:
    kind: str  # "hello", "event" or "health"
    body: dict[str, Any] = field(default_factory=dict)


def decode(text: str) -> Line | None:
    """One line of an agent's output; None when it is not one (the reader counts those)."""
    if len(text) > MAX_LINE or not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("agent") != VERSION or data.get("type") not in ("hello", "event",
                                                                                                "health"):
        return None
    if data["type"] == "event" and not isinstance(data.get("event"), dict):
        return None
    return Line(kind=data["type"], body={k: v for k, v in data.items() if k not in ("agent", "type")})
