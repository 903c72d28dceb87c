"""The Event: one flat telemetry record with ECS-style dotted field names.

An Event is a plain ``dict[str, Any]`` on purpose: rules read tens of thousands of them a second,
and a dict lookup is the cheapest field access Python has.  Every sensor fills at least the fields
in ``REQUIRED_FIELDS``; ``event.created`` is the sensor's own timestamp (epoch seconds, float).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

Event = dict[str, Any]

REQUIRED_FIELDS = ("event.id", "event.module", "event.dataset", "event.action", "event.created")

_ids = itertools.count(1)


def new_event(module: str, dataset: str, action: str, created: float | None = None, **fields: Any) -> Event:
    """Build an Event. Keyword fields use ``__`` for dots: ``container__id`` -> ``container.id``."""
    event: Event = {
        "event.id": f"{module}-{next(_ids)}",
        "event.module": module,
        "event.dataset": dataset,
        "event.action": action,
        "event.created": time.time() if created is None else created,
    }
    for key, value in fields.items():
        event[key.replace("__", ".")] = value
    return event


def object_ref(event: Event) -> str | None:
    """The object an event concerns, as ``kind:id`` (container, service, node or file)."""
    # Kubernetes audit events name their object themselves ("pod:<uid>", "daemonset:<uid>").
    if event.get("kubernetes.object.ref"):
        return str(event["kubernetes.object.ref"])
    for field, kind in (
        ("container.id", "container"),
        ("orchestrator.resource.id", "service"),
        ("host.id", "node"),
        ("file.path", "file"),
    ):
        value = event.get(field)
        if value:
            return f"{kind}:{value}"
    return None
