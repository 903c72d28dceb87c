"""The defender's CMDB view of the engine: which container owns an address, which bridges to sniff.

Network sensors see addresses; detectors reason about workloads. This module joins the two from
what the engine itself publishes (container list, network endpoints, network options), the way an
asset inventory would. It decides nothing: it only names things.

The inventory refreshes lazily: when an address is unknown (rate-limited, so a scan of unknown
addresses cannot hammer the engine) and every few seconds otherwise. A container that has gone keeps
its entry for a grace period, so the last packets of a flow are still attributed after its removal,
unless its address is taken by a new container first.
"""

from __future__ import annotations

import contextlib
import fnmatch
import ipaddress
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from detectors.sensors.base import is_bookkeeping_label

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
DEFAULT_BRIDGE_PATTERN = "stw-*"  # which engine bridges to sniff; never used to judge traffic
GRACE_S = 120.0
Subnet = ipaddress.IPv4Network | ipaddress.IPv6Network  # an engine network may have both
_NAME_SUFFIX = re.compile(r"[-_.](?:[0-9a-f]{6,}|\d+|[0-9a-z]{25})$")  # hex ids, replica numbers, swarm task ids


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    id: str
    name: str
    image: str
    labels: dict[str, str] = field(default_factory=dict)
    networks: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    image_id: str = ""
    network_ids: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None  # entrypoint + cmd as configured (None: not known)

    def fields(self, prefix: str = "container") -> dict[str, Any]:
        """ECS-style fields for this container under ``prefix`` (``container`` or ``destination.container``)."""
        out: dict[str, Any] = {
            f"{prefix}.id": self.id,
            f"{prefix}.name": self.name,
            f"{prefix}.image.name": self.image,
            f"{prefix}.image.id": self.image_id,
            f"{prefix}.network.names": list(self.networks),
            f"{prefix}.network.ids": list(self.network_ids),
        }
        if self.command is not None:
            out[f"{prefix}.command"] = list(self.command)
        for key, value in self.labels.items():
            out[f"{prefix}.labels.{key}"] = value
        return out


@dataclass(frozen=True, slots=True)
class BridgeInfo:
    interface: str  # the Linux bridge device
    network: str  # the engine network behind it
    subnets: tuple[str, ...] = ()


def name_stem(name: str) -> str:
    """``batch-3fa9c1`` -> ``batch``: the part of a container name a human chose, without the
    generated suffix that changes on every deployment (replica numbers, random hex)."""
    stem = name.lstrip("/")
    while True:
        shorter = _NAME_SUFFIX.sub("", stem)
        if shorter == stem or not shorter:
            return stem
        stem = shorter


def container_from_listing(item: dict[str, Any]) -> ContainerInfo:
    """One entry of the engine's container list (``GET /containers/json``) as a ContainerInfo."""
    networks = ((item.get("NetworkSettings") or {}).get("Networks")) or {}
    labels = {k: v for k, v in (item.get("Labels") or {}).items() if not is_bookkeeping_label(k)}
    names = item.get("Names") or [""]
    addresses = tuple(n.get("IPAddress") for n in networks.values() if n.get("IPAddress"))
    return ContainerInfo(id=item.get("Id", ""), name=names[0].lstrip("/"), image=item.get("Image", ""),
                         labels=labels, networks=tuple(sorted(networks)), addresses=addresses,
                         image_id=item.get("ImageID", ""),
                         network_ids=tuple(n.get("NetworkID", "") for _, n in sorted(networks.items())
                                           if n.get("NetworkID")))


def configured_command(inspect: dict[str, Any]) -> tuple[str, ...]:
    """Entrypoint + cmd as the container was configured (the listing only has a shell-quoted string)."""
    config = inspect.get("Config") or {}
    return (*(config.get("Entrypoint") or []), *(config.get("Cmd") or []))


class Inventory:
    """Address -> container and container id -> container, from one engine."""

    def __init__(self, client: Any, refresh_s: float = 5.0, miss_refresh_s: float = 0.5) -> None:
        self.client = client
        self.refresh_s = refresh_s
        self.miss_refresh_s = miss_refresh_s
        self._by_ip: dict[str, ContainerInfo] = {}
        self._by_id: dict[str, ContainerInfo] = {}
        self._gone: dict[str, float] = {}  # container id -> when it was last seen
        self._subnets: dict[str, tuple[str, tuple[Subnet, ...]]] = {}  # id -> (name, subnets)
        self._commands: dict[str, tuple[str, ...]] = {}  # container id -> configured command
        self._bridges: list[BridgeInfo] = []
        self._lock = threading.Lock()
        self._refreshed = 0.0
        self._view_at = 0.0  # wall time the last listing was asked for: the view holds what ran then
        self._missed: dict[str, float] = {}  # key -> when a miss last forced a refresh
        self.errors = 0

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._refreshed < self.miss_refresh_s:
            return
        self._refreshed = now
        view_at = time.time()
        try:
            listing = self.client.api.containers()
            networks = self.client.api.networks()
        except Exception:  # an engine hiccup must not kill a sensor; keep the old view
            self.errors += 1
            return
        fresh = {info.id: self._with_command(info) for info in map(container_from_listing, listing)}
        bridges, subnets = [], {}
        for net in networks:
            configs = (net.get("IPAM") or {}).get("Config") or []
            cidrs = tuple(c["Subnet"] for c in configs if c.get("Subnet") and ":" not in c["Subnet"])
            subnets[net.get("Id", "")] = (net.get("Name", ""),
                                          tuple(ipaddress.ip_network(c, strict=False) for c in cidrs))
            if net.get("Driver") == "bridge":
                iface = (net.get("Options") or {}).get(BRIDGE_NAME_OPTION) or f"br-{net.get('Id', '')[:12]}"
                bridges.append(BridgeInfo(interface=iface, network=net.get("Name", ""), subnets=cidrs))
        wall = time.time()
        with self._lock:
            for cid in set(self._by_id) - set(fresh):
                self._gone.setdefault(cid, wall)
            for cid, since in list(self._gone.items()):
                if cid in fresh or wall - since > GRACE_S:
                    self._gone.pop(cid, None)
                    if cid not in fresh:
                        self._by_id.pop(cid, None)
            self._by_id.update(fresh)
            for cid in set(self._commands) - set(self._by_id):
                del self._commands[cid]
            by_ip: dict[str, ContainerInfo] = {}
            # Gone containers first, so a live container holding the same address wins.
            for info in sorted(self._by_id.values(), key=lambda i: i.id in fresh):
                for address in info.addresses:
                    by_ip[address] = info
            self._by_ip = by_ip
            self._view_at = view_at
            self._bridges = bridges
            self._subnets = subnets

    def _with_command(self, info: ContainerInfo) -> ContainerInfo:
        """Sanctions compare a container's command with the one its image was signed with: one inspect
        per container, the first time it is seen."""
        command = self._commands.get(info.id)
        if command is None:
            try:
                command = configured_command(self.client.api.inspect_container(info.id))
            except Exception:  # gone already, or the engine hiccuped: the command stays unknown
                return info
            self._commands[info.id] = command
        return replace(info, command=command)

    def _maybe_refresh(self) -> None:
        if time.monotonic() - self._refreshed > self.refresh_s:
            self.refresh()

    def by_ip(self, address: str, at: float | None = None) -> ContainerInfo | None:
        """The container holding ``address``. ``at``: when the packet was seen (wall time). A departed
        container's address is only trusted for a packet seen before the view was taken; for a later
        one the engine is asked again, since it may have handed the address to a new container."""
        return self._lookup("_by_ip", address, at)

    def by_id(self, container_id: str) -> ContainerInfo | None:
        return self._lookup("_by_id", container_id)

    def _lookup(self, table: Literal["_by_ip", "_by_id"], key: str, at: float | None = None) -> ContainerInfo | None:
        """``table`` is named, not passed: a refresh replaces the address table with a new dict, and a
        lookup after it must read the new one."""
        self._maybe_refresh()
        with self._lock:
            info = getattr(self, table).get(key)
            departed = info is not None and info.id in self._gone
        if info is not None and not departed:
            return info
        if departed:
            # A packet seen after the view was taken may be the next container's: look again. Without
            # a time, refreshes for departed hits are throttled as a whole (every address of a removed
            # container can hit at once), not per address.
            seen_before_view = at is not None and at <= self._view_at
            if seen_before_view or (at is None and time.monotonic() - self._refreshed < self.miss_refresh_s):
                return info
            self.refresh(force=True)
            with self._lock:
                return getattr(self, table).get(key)
        # A miss usually means a container newer than our view: look again now, even if another
        # sensor refreshed a moment ago (its view may predate this container). A container that has
        # gone is a miss too: the engine hands its address to the next container on that network,
        # and the first packets of the newcomer would otherwise be pinned on the departed one. Each
        # missing key forces at most one refresh per interval, so external addresses cannot make us
        # hammer the engine.
        now = time.monotonic()
        with self._lock:
            last = self._missed.get(key, 0.0)
            if now - last < self.miss_refresh_s * 4:
                return None
            self._missed[key] = now
            if len(self._missed) > 4096:
                self._missed.clear()
        self.refresh(force=True)
        with self._lock:
            return getattr(self, table).get(key)

    def network_of(self, address: str) -> str | None:
        """The name of the engine network whose subnet holds ``address`` (None: not an engine network)."""
        found = self.network_at(address)
        return found[1] if found else None

    def network_at(self, address: str) -> tuple[str, str] | None:
        """(id, name) of the engine network whose subnet holds ``address``; None when no engine
        network does. A network made after the last refresh is looked for once more (rate-limited)."""
        found = self._network_at(address)
        if found is None and self._network_miss(address):
            self.refresh(force=True)
            found = self._network_at(address)
        return found

    def _network_at(self, address: str) -> tuple[str, str] | None:
        with contextlib.suppress(ValueError):
            ip = ipaddress.ip_address(address)
            with self._lock:
                for network_id, (name, nets) in self._subnets.items():
                    if any(ip in n for n in nets):
                        return network_id, name
        return None

    def _network_miss(self, address: str) -> bool:
        now = time.monotonic()
        key = f"net:{address}"
        with self._lock:
            if now - self._missed.get(key, 0.0) < self.miss_refresh_s * 4:
                return False
            self._missed[key] = now
            if len(self._missed) > 4096:
                self._missed.clear()
        return True

    def bridges(self, pattern: str = DEFAULT_BRIDGE_PATTERN) -> list[BridgeInfo]:
        self._maybe_refresh()
        with self._lock:
            return [b for b in self._bridges if fnmatch.fnmatchcase(b.interface, pattern)]
