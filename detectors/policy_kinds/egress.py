"""Policy kind ``egress``: where "inside" ends, and the sanctioned ways out.

The internal address ranges and names, the sanctioned egress proxies, other sanctioned egress (a
workload, the ports it may use, and its volume budget), and the default volume budget. It enriches
network events with ``policy.egress.*``: the zone of the destination (``loopback``, ``internal``,
``external``), whether the flow is sanctioned and by what, whether it goes through a sanctioned
proxy, the zone a NAT rule points to, and whether a DNS question or an HTTP Host is an internal name.

What a sanction still trusts: destinations are not pinned, only ports and volume.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.platform import Platform
from detectors.policies import GlobTest, glob_test, register_policy_kind
from detectors.sanction import Provenanced, ProvenanceKind
from detectors.schema import Entry, nonempty, positive, setting

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_MAX_ZONES = 65536
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _cidr(text: str, policy_file: Path) -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ValueError(f"not a CIDR: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SanctionedEgress(Entry):
    """A way out the network team sanctions: a signed image run as built, on the platform's
    networks, to these ports, within this volume. A proxy is one: workloads hand it their traffic,
    and its own connections out are the sanctioned path."""

    match: Provenanced = setting(doc="the workload, by provenance")
    ports: tuple[int, ...] = setting(doc="destination ports it may use out", each=positive,
                                     check=nonempty("name the ports it may use: an empty list would allow none"))
    volume_budget_bytes: int | None = setting(None, doc="its volume budget per window (default: the policy's)",
                                              check=positive)

    def covers(self, event: Event, platform: Platform) -> bool:
        return event.get("destination.port") in self.ports and self.match.matches(event, platform)


@dataclass(frozen=True, slots=True)
class VolumeBudget:
    """Unset values keep an earlier file's, else the defaults (10 s, 2 MiB)."""

    window_s: float | None = setting(None, doc="the window a budget counts over, in seconds (10)",
                                     check=positive)
    budget_bytes: int | None = setting(None, doc="bytes out per window for unsanctioned egress (2 MiB)",
                                       check=positive)


@register_policy_kind
@dataclass(slots=True)
class EgressPolicy(ProvenanceKind):
    kind: ClassVar[str] = "egress"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.egress.",)
    sanction_lists: ClassVar[tuple[str, ...]] = ("sanctioned_proxies", "sanctioned_egress")
    internal_networks: tuple[Network, ...] = setting((), parse=_cidr,
                                                      doc="address ranges beyond the engine that are inside (CIDRs)")
    internal_domains: tuple[str, ...] = setting((), doc="globs of internal DNS names")
    proxies: tuple[SanctionedEgress, ...] = setting((), key="sanctioned_proxies", doc="sanctioned egress proxies")
    others: tuple[SanctionedEgress, ...] = setting((), key="sanctioned_egress", doc="other sanctioned egress")
    volume: VolumeBudget = setting(VolumeBudget(), doc="the default volume budget")
    # Answers of zone() per address and the compiled internal_domains, each for the value of the
    # setting it was computed from (merging files replaces them; anyone may assign them).
    _zones: tuple[Any, Any] = field(default=(None, None), init=False, repr=False, compare=False)
    _domains: tuple[Any, GlobTest | None] = field(default=(None, None), init=False, repr=False, compare=False)

    @property
    def sanctioned(self) -> tuple[SanctionedEgress, ...]:
        return (*self.proxies, *self.others)  # proxies first: a proxy's flows are judged as the proxy's

    @property
    def volume_window_s(self) -> float:
        return self.volume.window_s or 10.0

    @property
    def volume_budget_bytes(self) -> int:
        return self.volume.budget_bytes or 2 * 1024 * 1024

    def merge(self, name: str, value: Any) -> None:
        if name == "volume":  # a file that sets one of the two keeps the other as it was
            value = VolumeBudget(window_s=value.window_s if value.window_s is not None else self.volume.window_s,
                                 budget_bytes=value.budget_bytes if value.budget_bytes is not None
                                 else self.volume.budget_bytes)
        ProvenanceKind.merge(self, name, value)

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
        for proxy in self.proxies:  # a loop, not next(genexpr): this runs twice per flow
            if proxy.match.matches(event, self.platform, prefix):
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
