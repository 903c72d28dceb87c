"""Network policy kinds: where "inside" ends, the sanctioned egress paths, and which services are baselined.

Two kinds, each a platform/network team's file under detectors/policy/:

``egress``: the internal address ranges and names, the sanctioned egress proxies, other sanctioned
egress (a workload, the ports it may use, and its volume budget), and the default volume budget.
It enriches network events with ``policy.egress.*``: the zone of the destination (``loopback``,
``internal``, ``external``), whether the flow is sanctioned and by what, whether it goes through a
sanctioned proxy, the zone a NAT rule points to, and whether a DNS question or an HTTP Host is an
internal name.

``network-baseline``: which services are held to a learned baseline of their peers (selected by
workload labels, never by scenario), how long a new service is watched before its baseline is
fixed, and where reviewed baselines are stored. It enriches events with ``policy.baseline.*``.

A workload is identified across deployments by ``service_identity``: its workload label (``app``,
``app.kubernetes.io/name``, the compose or swarm service name), else its image plus the stem of its
name. Container ids change on every deployment; that identity does not.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.platform import UNBOUND, Platform
from detectors.policies import GlobTest, PolicyError, _expect, _known, _strings, glob_test, register_policy_kind
from detectors.sanction import Provenanced
from detectors.sensors.netinventory import name_stem

IDENTITY_LABELS = ("app.kubernetes.io/name", "app", "com.docker.compose.service", "com.docker.swarm.service.name")
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_MAX_ZONES = 65536


def labels_of(event: Event, prefix: str = "container") -> dict[str, str]:
    start = f"{prefix}.labels."
    return {k[len(start):]: v for k, v in event.items() if k.startswith(start) and isinstance(v, str)}


_IDENTITY_KEYS: dict[str, tuple[tuple[str, str], ...]] = {}  # prefix -> (label, its event field)


def claimed_identity(event: Event, prefix: str = "container") -> str:
    """What a container says it is: its workload label (``app=report-sync``), else image plus name stem."""
    keys = _IDENTITY_KEYS.get(prefix)
    if keys is None:
        keys = _IDENTITY_KEYS[prefix] = tuple((key, f"{prefix}.labels.{key}") for key in IDENTITY_LABELS)
    # The wanted labels looked up directly: the same answer as ``labels_of`` (string values only)
    # without walking every field of the event.
    for key, name in keys:
        value = event.get(name)
        if value and isinstance(value, str):
            return f"{key}={value}"
    image = event.get(f"{prefix}.image.name") or ""
    stem = name_stem(event.get(f"{prefix}.name") or "")
    return f"image={image},name={stem}" if image or stem else ""


def signed_identity(event: Event, prefix: str = "container", platform: Platform = UNBOUND) -> str | None:
    """``image=<identity>`` when a trusted signer signed the container's image and the container runs
    the command it was built with, else None. The signed base image started with a command of
    someone's choosing is not a service the platform built: it is whatever that command is."""
    command = event.get(f"{prefix}.command")
    if not isinstance(command, list):
        return None
    for signed in platform.provenance(event.get(f"{prefix}.image.id")):
        if signed.command is not None and tuple(command) == signed.command:
            return f"image={signed.identity}"
    return None


def service_identity(event: Event, prefix: str = "container", platform: Platform = UNBOUND) -> str:
    """What makes two containers "the same service" across deployments, for baselines.

    A container that runs an image a trusted signer signed, as it was built, is that image's signed
    identity (``image=platform/report-sync``), which nobody can borrow. Any other container is only
    what it claims (``claimed:app=report-sync``): it keeps its own learned baseline across
    redeployments, but a reviewed baseline names a signed identity, which it can never have."""
    signed = signed_identity(event, prefix, platform)
    if signed is not None:
        return signed
    claimed = claimed_identity(event, prefix)
    return f"claimed:{claimed}" if claimed else ""


@dataclass(frozen=True, slots=True)
class WorkloadMatch:
    """Which workloads an entry covers. Every key given must match; within a key any glob may."""

    labels: dict[str, str] = field(default_factory=dict)  # label -> glob of its value
    images: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    # prefix -> the event fields this match reads under it, with the compiled globs (see _compiled)
    _by_prefix: dict[str, tuple[Any, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    FIELDS: ClassVar[tuple[str, ...]] = ("labels", "images", "networks")

    @classmethod
    def load(cls, data: Any, path: Path, where: str) -> WorkloadMatch:
        _expect(data, dict, path, where.rstrip("."))
        _known(data, cls.FIELDS, path, where)
        if not data:
            raise PolicyError(path, where.rstrip("."), "an empty match would cover every workload")
        labels = _expect(data.get("labels", {}), dict, path, f"{where}labels")
        for key, value in labels.items():
            _expect(value, str, path, f"{where}labels.{key}")
        return cls(labels=dict(labels), images=_strings(data.get("images", []), path, f"{where}images"),
                   networks=_strings(data.get("networks", []), path, f"{where}networks"))

    def _compiled(self, prefix: str) -> tuple[Any, ...]:
        compiled = (f"{prefix}.id", tuple((f"{prefix}.labels.{key}", glob_test([glob]))
                                          for key, glob in self.labels.items()),
                    f"{prefix}.image.name", glob_test(self.images), f"{prefix}.network.names", glob_test(self.networks))
        self._by_prefix[prefix] = compiled
        return compiled

    def matches(self, event: Event, prefix: str = "container") -> bool:
        compiled = self._by_prefix.get(prefix) or self._compiled(prefix)
        id_field, labels, image_field, images, networks_field, networks = compiled
        if not event.get(id_field):
            return False
        # Look each wanted label up directly: building the whole label dict per event and entry was
        # a fifth of the replay's time (the bench's rule-engine replay), for the same answer.
        for name, test in labels:
            value = event.get(name)
            if not isinstance(value, str) or not test(value):
                return False
        image = event.get(image_field) or ""
        if self.images and not images(image):
            return False
        nets = event.get(networks_field) or []
        return not (self.networks and not any(networks(n) for n in nets))


def _entry_head(data: Any, path: Path, where: str, extra: tuple[str, ...]) -> tuple[str, str, str, WorkloadMatch]:
    _expect(data, dict, path, where.rstrip("."))
    _known(data, ("name", "description", "owner", "match", *extra), path, where)
    for required in ("name", "description", "owner", "match"):
        if required not in data:
            raise PolicyError(path, f"{where}{required}", "missing")
    return (_expect(data["name"], str, path, f"{where}name"),
            _expect(data["description"], str, path, f"{where}description"),
            _expect(data["owner"], str, path, f"{where}owner"),
            WorkloadMatch.load(data["match"], path, f"{where}match."))


@dataclass(frozen=True, slots=True)
class SanctionedEgress:
    """A way out the network team sanctions: a signed image run as built, on the platform's
    networks, to these ports, within this volume. A proxy is one (``proxy``): workloads hand it
    their traffic, and its own connections out are the sanctioned path."""

    name: str
    description: str
    owner: str
    match: Provenanced
    ports: tuple[int, ...]  # destination ports it may use out
    volume_budget_bytes: int | None = None
    proxy: bool = False

    def covers(self, event: Event, platform: Platform) -> bool:
        return event.get("destination.port") in self.ports and self.match.matches(event, platform)


def _cidrs(value: Any, path: Path, name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    out = []
    for i, text in enumerate(_strings(value, path, name)):
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise PolicyError(path, f"{name}[{i}]", f"not a CIDR: {exc}") from exc
    return tuple(out)


def _positive_int(value: Any, path: Path, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PolicyError(path, name, f"expected a positive integer, got {value!r}")
    return value


def _sanctioned_egress(entry: Any, path: Path, where: str, proxy: bool) -> SanctionedEgress:
    _expect(entry, dict, path, where.rstrip("."))
    fields = ("name", "description", "owner", "match", "ports", "volume_budget_bytes")
    _known(entry, fields, path, where)
    for required in ("name", "description", "owner", "match", "ports"):
        if required not in entry:
            raise PolicyError(path, f"{where}{required}", "missing")
    ports = _expect(entry["ports"], list, path, f"{where}ports")
    if not ports:
        raise PolicyError(path, f"{where}ports", "name the ports it may use: an empty list would allow none")
    for j, port in enumerate(ports):
        _positive_int(port, path, f"{where}ports[{j}]")
    budget = entry.get("volume_budget_bytes")
    if budget is not None:
        budget = _positive_int(budget, path, f"{where}volume_budget_bytes")
    return SanctionedEgress(name=_expect(entry["name"], str, path, f"{where}name"),
                            description=_expect(entry["description"], str, path, f"{where}description"),
                            owner=_expect(entry["owner"], str, path, f"{where}owner"),
                            match=Provenanced.load(entry["match"], path, f"{where}match."),
                            ports=tuple(ports), volume_budget_bytes=budget, proxy=proxy)


@register_policy_kind
@dataclass(slots=True)
class EgressPolicy:
    kind: ClassVar[str] = "egress"
    sanction_lists: ClassVar[tuple[str, ...]] = ("sanctioned_proxies", "sanctioned_egress")
    internal_networks: tuple[Any, ...] = ()
    internal_domains: tuple[str, ...] = ()
    sanctioned: list[SanctionedEgress] = field(default_factory=list)  # proxies first, then the rest
    volume_window_s: float = 10.0
    volume_budget_bytes: int = 2 * 1024 * 1024
    platform: Platform = UNBOUND
    # Answers of zone() per address and the compiled internal_domains, each for the value of the
    # setting it was computed from (load() extends them; anyone may assign them).
    _zones: tuple[Any, Any] = field(default=(None, None), init=False, repr=False, compare=False)
    _domains: tuple[Any, GlobTest | None] = field(default=(None, None), init=False, repr=False, compare=False)

    def bind(self, policy: Any) -> None:
        self.platform = Platform(policy)

    @property
    def proxies(self) -> list[SanctionedEgress]:
        return [s for s in self.sanctioned if s.proxy]

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "internal_networks", "internal_domains", "sanctioned_proxies", "sanctioned_egress",
                      "volume"), path, "")
        self.internal_networks += _cidrs(body.get("internal_networks", []), path, "internal_networks")
        self.internal_domains += _strings(body.get("internal_domains", []), path, "internal_domains")
        proxies = [_sanctioned_egress(entry, path, f"sanctioned_proxies[{i}].", proxy=True)
                   for i, entry in enumerate(_expect(body.get("sanctioned_proxies", []), list, path,
                                                     "sanctioned_proxies"))]
        others = [_sanctioned_egress(entry, path, f"sanctioned_egress[{i}].", proxy=False)
                  for i, entry in enumerate(_expect(body.get("sanctioned_egress", []), list, path,
                                                    "sanctioned_egress"))]
        self.sanctioned = [*self.proxies, *proxies, *(s for s in self.sanctioned if not s.proxy), *others]
        volume = _expect(body.get("volume", {}), dict, path, "volume")
        _known(volume, ("window_s", "budget_bytes"), path, "volume.")
        if "window_s" in volume:
            self.volume_window_s = float(_positive_int(volume["window_s"], path, "volume.window_s"))
        if "budget_bytes" in volume:
            self.volume_budget_bytes = _positive_int(volume["budget_bytes"], path, "volume.budget_bytes")

    # --- lookups the analytics share ----------------------------------------------------------
    def zone_of(self, address: Any, network_id: Any = None) -> str:
        """Where ``address`` is. An address on one of the engine's own networks (``network_id``, as the
        sensors saw it) is inside, unless the platform made that network to stand for the outside
        world (purpose ``internet``); any other address is judged by ``zone``."""
        if network_id:
            network = self.platform.network(network_id)
            return "external" if network is not None and network.purpose == "internet" else "internal"
        return self.zone(address)

    def zone(self, address: str) -> str:
        """By address alone: loopback, the policy's ``internal_networks`` (ranges beyond the engine,
        a corporate network), else external."""
        networks, known = self._zones
        if networks is not self.internal_networks:
            networks, known = self._zones = (self.internal_networks, {})
        try:
            return known[address]
        except (KeyError, TypeError):  # not seen yet, or not even a hashable address
            pass
        zone = self._zone(address)
        if type(address) is str:
            if len(known) >= _MAX_ZONES:  # a bounded memo: a fleet's peers repeat, a scan's do not
                known.clear()
            known[address] = zone
        return zone

    def _zone(self, address: str) -> str:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return "unknown"
        if ip in LOOPBACK or ip.is_loopback:
            return "loopback"
        if any(ip in net for net in self.internal_networks):
            return "internal"
        return "external"

    def proxy_for(self, event: Event, prefix: str = "container") -> str | None:
        for proxy in self.sanctioned:  # a loop, not next(genexpr): this runs twice per flow
            if proxy.proxy and proxy.match.matches(event, self.platform, prefix):
                return proxy.name
        return None

    def internal_name(self, name: str) -> bool:
        name = name.lower().rstrip(".")
        domains, test = self._domains
        if domains is not self.internal_domains or test is None:
            test = glob_test(self.internal_domains)
            self._domains = (self.internal_domains, test)
        return bool(test(name))

    def enrich(self, event: Event) -> None:
        if "destination.ip" in event:
            self._enrich_flow(event)
        if event.get("nat.to.ip"):
            event["policy.egress.nat_to_zone"] = self.zone_of(event["nat.to.ip"], event.get("nat.to.network.id"))
        question = event.get("dns.question.name")
        if question:
            event["policy.egress.dns_internal_name"] = self.internal_name(question)
            answers = event.get("dns.resolved_ip") or []
            if answers:
                network_ids = event.get("dns.resolved_network_ids") or []
                zones = {self.zone_of(a, network_ids[i] if i < len(network_ids) else None)
                         for i, a in enumerate(answers)}
                event["policy.egress.dns_answer_zone"] = "external" if "external" in zones else sorted(zones)[0]
        host = event.get("http.request.host")
        if host:
            event["policy.egress.http_internal_name"] = self.internal_name(host)

    def _enrich_flow(self, event: Event) -> None:
        zone = self.zone_of(event["destination.ip"], event.get("destination.network.id"))
        event["policy.egress.destination_zone"] = zone
        event["policy.egress.source_proxy"] = self.proxy_for(event) is not None
        event["policy.egress.via_proxy"] = self.proxy_for(event, "destination.container") is not None
        budget = self.volume_budget_bytes
        sanction = None
        if zone != "external":
            sanction = "internal"
        else:
            for entry in self.sanctioned:
                if entry.covers(event, self.platform):
                    sanction = entry.name
                    budget = entry.volume_budget_bytes or budget
                    break
        event["policy.egress.sanctioned"] = sanction is not None
        if sanction is not None:
            event["policy.egress.sanction"] = sanction
        event["policy.egress.volume_budget_bytes"] = budget


@dataclass(frozen=True, slots=True)
class Monitored:
    name: str
    description: str
    owner: str
    match: WorkloadMatch


@register_policy_kind
@dataclass(slots=True)
class BaselinePolicy:
    kind: ClassVar[str] = "network-baseline"
    # Its reviewed baseline files sanction peers (each file is one sanction); ``monitored`` only
    # chooses who is held to a baseline.
    sanction_lists: ClassVar[tuple[str, ...]] = ("stored_baselines",)
    requires_field: ClassVar[str] = "container.id"  # enrich tests it first (detectors.routing)
    learn_seconds: float = 10.0
    stored: list[Path] = field(default_factory=list)  # directories of reviewed baseline JSON files
    monitored: list[Monitored] = field(default_factory=list)
    platform: Platform = UNBOUND

    def bind(self, policy: Any) -> None:
        self.platform = Platform(policy)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "learn_seconds", "stored_baselines", "monitored"), path, "")
        if "learn_seconds" in body:
            self.learn_seconds = float(_positive_int(body["learn_seconds"], path, "learn_seconds"))
        for i, rel in enumerate(_strings(body.get("stored_baselines", []), path, "stored_baselines")):
            directory = (path.parent / rel).resolve()
            if not directory.is_dir():
                raise PolicyError(path, f"stored_baselines[{i}]", f"{directory} is not a directory")
            self.stored.append(directory)
        for i, entry in enumerate(_expect(body.get("monitored", []), list, path, "monitored")):
            name, description, owner, match = _entry_head(entry, path, f"monitored[{i}].", ())
            self.monitored.append(Monitored(name=name, description=description, owner=owner, match=match))

    def enrich(self, event: Event) -> None:
        if not event.get("container.id"):
            return
        hit = None
        for monitored in self.monitored:  # a loop, not next(genexpr): this runs on every container event
            if monitored.match.matches(event):
                hit = monitored
                break
        event["policy.baseline.monitored"] = hit is not None
        if hit is not None:
            event["policy.baseline.scope"] = hit.name
            event["policy.baseline.service"] = service_identity(event, platform=self.platform)
            if event.get("destination.container.id"):
                # A reviewed baseline's peers must not be reachable by a container that merely claims
                # their labels: peers are named the same way as services.
                event["policy.baseline.peer_service"] = service_identity(event, "destination.container",
                                                                         self.platform)
