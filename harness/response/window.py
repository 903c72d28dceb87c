"""The recent past of every container: its process, network and file events, kept for the responder.

A detector decides on one event and moves on; a responder, once an alert fires, needs what the
container did around it (which programs it ran, whom it called, which files it wrote) and, to
cross-reference indicators, what every *other* container did too. ``EventWindow`` is a Monitor tap
(``monitor.add_tap(window.tap)``) that keeps exactly that, per ``container.id``:

- **process**: ``event.category`` process, or dataset ``linux.process`` (tracefs-exec, procfs);
- **network**: ``event.category`` network, or a ``destination.ip``: the packet sensor's flows and DNS
  (``network.flow``, ``network.dns``: ``container.id`` is the side that opened the flow), the
  tcp-state sensor's connections (``tracefs.tcp``, with ``network.direction``) and the NAT sensor's
  redirect rules (``netns.nat``, ``nat.to.*``);
- **file**: anything with a ``file.path`` (FIM, with ``file.hash.sha256`` when it hashed the file).

Only the fields a responder reads are kept (``KEPT_PREFIXES``): a container's labels and command
ride on every event and would multiply the memory for nothing.

Bounds: ``max_events`` per container (the oldest are dropped first) and ``max_containers`` (the
container whose last event is the oldest is forgotten first). Both are counted in ``dropped``, so a
bundle can say its events are partial. At the defaults (2000 x 500) and about 1 kB an event kept,
the window tops out near 1 GB: a long ``watch`` on a big fleet should pass smaller bounds.

Blind spots: an event without ``container.id`` (a host process, a flow from an address the
inventory did not know) is not kept; an event older than the bounds is gone; the tap sees events as
the sensors emitted them, before policy enrichment.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from detectors.event import Event

KINDS = ("process", "network", "file")
NETWORK_DATASETS = ("network.flow", "network.dns", "tracefs.tcp", "netns.nat")
KEPT_PREFIXES = ("event.", "process.", "source.", "destination.", "network.", "file.", "flow.", "nat.", "user.",
                 "dns.", "http.", "tcp.", "observer.")
KEPT_FIELDS = ("container.id", "container.name", "container.image.id", "container.image.name", "tracefs.skaddr")
MAX_EVENTS = 2000
MAX_CONTAINERS = 500


def kind_of(event: Event) -> str | None:
    """Which of ``KINDS`` an event is, or None when the window has no use for it."""
    category = event.get("event.category")
    categories = category if isinstance(category, list) else [category]
    dataset = event.get("event.dataset")
    if "process" in categories or dataset == "linux.process":
        return "process"
    if "network" in categories or dataset in NETWORK_DATASETS or "destination.ip" in event:
        return "network"
    if "file.path" in event:
        return "file"
    return None


def trimmed(event: Event) -> Event:
    return {k: v for k, v in event.items() if k in KEPT_FIELDS or k.startswith(KEPT_PREFIXES)}


def destination(ip: Any, port: Any, protocol: Any) -> str | None:
    """``ip:port/proto`` (``[ip]:port/proto`` for IPv6), the form ``Lab.plant`` and the indicators use."""
    try:
        address = ipaddress.ip_address(str(ip))
        number = int(port or 0)
    except (TypeError, ValueError):
        return None
    proto = str(protocol or "tcp").lower()
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"{host}:{number}/{proto}"


def destination_of(event: Event) -> str | None:
    """The destination an event's container sent to, or None (no destination, or the container was
    the one called: an accepted connection's destination is the container itself)."""
    if event.get("network.direction") == "ingress" or "destination.ip" not in event:
        return None
    protocol = event.get("network.transport") or ("tcp" if event.get("event.dataset") == "tracefs.tcp" else "")
    return destination(event["destination.ip"], event.get("destination.port"), protocol)


def redirect_of(event: Event) -> str | None:
    """Where a NAT rule inside the container sends traffic (``nat.to.*``), or None."""
    if event.get("event.dataset") != "netns.nat" or not event.get("nat.to.ip"):
        return None
    return destination(event["nat.to.ip"], event.get("nat.to.port") or 0, event.get("nat.match.protocol") or "tcp")


def is_loopback(dest: str) -> bool:
    """The engine's embedded DNS (127.0.0.11) and anything else on loopback: in every container, so
    never evidence of anything."""
    host = dest.rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Dropped:
    events: int  # pushed out by a container's bound, or with a forgotten container
    containers: int  # forgotten whole, past ``max_containers``
    malformed: int  # an event the tap could not read (counted, never raised)


@dataclass(slots=True)
class _Kept:
    created: float
    kind: str
    event: Event


class EventWindow:
    """A Monitor tap keeping each container's recent process, network and file events (see module doc)."""

    def __init__(self, max_events: int = MAX_EVENTS, max_containers: int = MAX_CONTAINERS) -> None:
        self.max_events = max_events
        self.max_containers = max_containers
        self._lock = threading.Lock()
        # Least recently active first: the container to forget when a new one arrives at the bound.
        self._by_container: OrderedDict[str, deque[_Kept]] = OrderedDict()
        self._dropped_events = 0
        self._dropped_containers = 0
        self._malformed = 0
        self.kept = 0
        self._closed = False

    def tap(self, event: Event) -> None:
        """Keep ``event`` if it belongs to a container and is of a kept kind. Never raises: a tap that
        raises is removed by the monitor, and the window would go blind without saying so."""
        try:
            if self._closed:
                return
            container_id = event.get("container.id")
            if not container_id or not isinstance(container_id, str):
                return
            kind = kind_of(event)
            if kind is None:
                return
            created = float(event.get("event.created") or 0.0)
            kept = _Kept(created, kind, trimmed(event))
            with self._lock:
                self._keep(container_id, kept)
        except Exception:  # malformed telemetry: counted, and the window stays attached
            with self._lock:
                self._malformed += 1

    def _keep(self, container_id: str, kept: _Kept) -> None:
        events = self._by_container.get(container_id)
        if events is None:
            while len(self._by_container) >= self.max_containers > 0:
                _, forgotten = self._by_container.popitem(last=False)
                self._dropped_containers += 1
                self._dropped_events += len(forgotten)
            events = self._by_container[container_id] = deque(maxlen=self.max_events)
        else:
            self._by_container.move_to_end(container_id)
        if len(events) == events.maxlen:
            self._dropped_events += 1
        events.append(kept)
        self.kept += 1

    def close(self) -> None:
        """Stop keeping new events (the Monitor has no way to remove a tap; a closed one costs nothing)."""
        self._closed = True

    def events_for(self, container_id: str, since: float = 0.0, until: float | None = None,
                   kinds: Iterable[str] = KINDS) -> list[Event]:
        """The container's kept events with ``since <= event.created <= until``, oldest first (copies)."""
        wanted = set(kinds)
        with self._lock:
            kept = list(self._by_container.get(container_id, ()))
        chosen = [k for k in kept if k.kind in wanted and k.created >= since and (until is None or k.created <= until)]
        chosen.sort(key=lambda k: k.created)
        return [dict(k.event) for k in chosen]

    def all_containers(self) -> list[str]:
        with self._lock:
            return list(self._by_container)

    @property
    def dropped(self) -> Dropped:
        with self._lock:
            return Dropped(self._dropped_events, self._dropped_containers, self._malformed)


@dataclass(frozen=True, slots=True)
class Flow:
    """What a container's network events say about one destination."""

    destination: str  # "ip:port/proto"
    direction: str  # "egress": the container opened it; "ingress": it accepted it
    first_seen: float
    last_seen: float
    count: int  # connections, as counted by the sensor that saw most of them (sensors overlap: never summed)
    bytes: int | None  # both ways, from the packet sensor's flows; None when no flow record said
    sensors: tuple[str, ...]
    processes: tuple[str, ...]  # process names the tcp-state sensor attributed the connections to

    def to_dict(self) -> dict[str, Any]:
        return {"destination": self.destination, "direction": self.direction, "first_seen": self.first_seen,
                "last_seen": self.last_seen, "count": self.count, "bytes": self.bytes,
                "sensors": list(self.sensors), "processes": list(self.processes)}


@dataclass(slots=True)
class _FlowAcc:
    first: float
    last: float
    flow_ids: set[str] = field(default_factory=set)  # the packet sensor's flows
    bytes_by_flow: dict[str, int] = field(default_factory=dict)
    attempts: int = 0  # the tcp-state sensor's connections
    others: int = 0  # events of any other sensor
    sensors: set[str] = field(default_factory=set)
    processes: set[str] = field(default_factory=set)


def flows_from(events: Iterable[Event]) -> list[Flow]:
    """The flows one container's events describe: one per (destination, direction), busiest first.

    A connection is seen by up to two sensors (the packet sensor's flow, with start/update/end
    events; the tcp-state sensor's attempt and outcome): each counts its own way (distinct
    ``flow.id``; ``connection_attempted`` events) and the larger count stands, so one connection is
    never counted twice.
    """
    found: dict[tuple[str, str], _FlowAcc] = {}
    for event in events:
        if event.get("event.dataset") == "netns.nat" or "destination.ip" not in event:
            continue
        direction = "ingress" if event.get("network.direction") == "ingress" else "egress"
        protocol = event.get("network.transport") or ("tcp" if event.get("event.dataset") == "tracefs.tcp" else "")
        dest = destination(event["destination.ip"], event.get("destination.port"), protocol)
        if dest is None:
            continue
        created = float(event.get("event.created") or 0.0)
        end = event.get("event.end")
        last = float(end) if isinstance(end, (int, float)) else created
        acc = found.get((dest, direction))
        if acc is None:
            acc = found[(dest, direction)] = _FlowAcc(created, last)
        acc.first, acc.last = min(acc.first, created), max(acc.last, last)
        acc.sensors.add(str(event.get("observer.name") or event.get("event.module") or "?"))
        flow_id = event.get("flow.id")
        if isinstance(flow_id, str):
            acc.flow_ids.add(flow_id)
            size = event.get("network.bytes")
            if isinstance(size, int):
                acc.bytes_by_flow[flow_id] = max(size, acc.bytes_by_flow.get(flow_id, 0))
        elif event.get("event.action") in ("connection_attempted", "connection_accepted"):
            acc.attempts += 1
        elif event.get("event.dataset") != "tracefs.tcp":
            acc.others += 1
        name = event.get("process.name")
        if isinstance(name, str) and name:
            acc.processes.add(name)
    flows = []
    for (dest, direction), acc in found.items():
        flows.append(Flow(dest, direction, acc.first, acc.last, max(len(acc.flow_ids), acc.attempts, acc.others, 1),
                          sum(acc.bytes_by_flow.values()) if acc.bytes_by_flow else None,
                          tuple(sorted(acc.sensors)), tuple(sorted(acc.processes))))
    flows.sort(key=lambda f: (-f.count, f.destination, f.direction))
    return flows
