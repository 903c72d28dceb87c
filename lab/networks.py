"""Lab networks, all inside 198.18.0.0/15 (RFC 2544's benchmarking range) and all ``--internal``.

Each run gets its own three networks, so parallel runs never share a broadcast domain:
- ``lan``:  the lab LAN where workloads live            198.18.(2k).0/24
- ``dev``:  a sanctioned development network             198.18.(2k+1).0/24
- ``inet``: the lab "internet", sinkhole and C2 live here 198.19.k.0/24
``k`` is the first slot free on the engine. Internal networks have no route off the host: the
engine's own iptables rules drop anything leaving the subnet, and the lab adds a host guard rule
on top (see ``containment``).

A slot also reserves a fourth subnet, made only when a run first contains a container
(``lab.quarantine``): its quarantine network, 198.18.192.0/26 + 64k (k < 96: 198.18.192.0 to
198.18.215.255, 61 containers each; the 32 /26s after them, to 198.18.223.255, are for `stowaway
watch`, which contains on request and has no slot). The rest of the range is taken: kind's pod and service
networks 198.18.224.0/19, kind node networks 198.19.100-127.x, the swarm pool 198.19.128.0/18 and
the engine's pool 198.19.192.0/18.
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import docker.errors
import docker.types

from lab.bookkeeping import RUN_LABEL
from lab.errors import LabError

if TYPE_CHECKING:
    from docker.models.networks import Network

LAB_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
ROLES = ("lan", "dev", "inet")
SLOTS = 96  # 198.19.192.0/18 stays free for the engine's own pool
QUARANTINE_ROLE = "quarantine"
QUARANTINE_RANGE = ipaddress.IPv4Network("198.18.192.0/19")  # slot k's /26 is the k-th one (k < 96)
QUARANTINE_PREFIX = 26
# The /19 holds 128 /26s: those past the runs' slots are for a `stowaway watch`, which has no slot.
QUARANTINE_SLOTS = 2 ** (QUARANTINE_PREFIX - QUARANTINE_RANGE.prefixlen)


@dataclass(frozen=True, slots=True)
class LabNetwork:
    role: str
    name: str
    id: str
    subnet: ipaddress.IPv4Network

    @classmethod
    def of(cls, role: str, network: Network, subnet: ipaddress.IPv4Network) -> LabNetwork:
        """A network the engine has just created (docker-py types its name and id as optional)."""
        assert network.name is not None and network.id is not None
        return cls(role=role, name=network.name, id=network.id, subnet=subnet)

    def host(self, n: int) -> str:
        """The n-th address of the subnet (n >= 2: .1 is the bridge gateway)."""
        return str(self.subnet.network_address + n)


def _subnets(slot: int) -> dict[str, ipaddress.IPv4Network]:
    return {
        "lan": ipaddress.IPv4Network(f"198.18.{2 * slot}.0/24"),
        "dev": ipaddress.IPv4Network(f"198.18.{2 * slot + 1}.0/24"),
        "inet": ipaddress.IPv4Network(f"198.19.{slot}.0/24"),
    }


def quarantine_subnet(slot: int) -> ipaddress.IPv4Network:
    """Slot ``slot``'s quarantine subnet: the slot-th /26 of 198.18.192.0/19."""
    if not 0 <= slot < QUARANTINE_SLOTS:
        raise ValueError(f"slot {slot} is outside 0..{QUARANTINE_SLOTS - 1}")
    size = 2 ** (32 - QUARANTINE_PREFIX)
    return ipaddress.IPv4Network((int(QUARANTINE_RANGE.network_address) + size * slot, QUARANTINE_PREFIX))


def spare_quarantine_slot(client: docker.DockerClient) -> int:
    """A quarantine slot past the runs' ones whose /26 nothing uses (for a watch's quarantine network).

    Raises:
        LabError: every spare /26 is in use.
    """
    used = _used_subnets(client)
    for slot in range(SLOTS, QUARANTINE_SLOTS):
        if not any(quarantine_subnet(slot).overlaps(u) for u in used):
            return slot
    raise LabError(f"every spare quarantine subnet in {QUARANTINE_RANGE} is in use: run `stowaway reap`")


def slot_of(networks: dict[str, LabNetwork]) -> int:
    """The slot a run's lab networks were made in (its lab internet is 198.19.<slot>.0/24)."""
    slot = int(networks["inet"].subnet.network_address.packed[2])
    if {role: networks[role].subnet for role in ROLES} != _subnets(slot):
        raise LabError(f"these lab networks are not one slot's: {sorted(str(n.subnet) for n in networks.values())}")
    return slot


def _used_subnets(client: docker.DockerClient) -> set[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """What the engine's networks hold, and what the host already routes: a bridge another engine
    made (a second lab state directory, a leftover device) makes a subnet taken even though this
    engine has never heard of it; two bridges with one subnet make the host route to the wrong one."""
    used: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set(host_routes())
    for network in client.networks.list():
        for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
            if config.get("Subnet"):
                used.add(ipaddress.ip_network(config["Subnet"], strict=False))
    return used


def host_routes(table: Path = Path("/proc/net/route")) -> list[ipaddress.IPv4Network]:
    """The IPv4 destinations the host routes inside the lab range (not its default route)."""
    found: list[ipaddress.IPv4Network] = []
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:  # destination and mask are little-endian hex
            address = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
            mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
            network = ipaddress.IPv4Network(f"{address}/{mask}", strict=False)
        except ValueError:
            continue
        if network.prefixlen and network.overlaps(LAB_RANGE):
            found.append(network)
    return found


def create_lab_networks(client: docker.DockerClient, run_id: str, prefix: str) -> dict[str, LabNetwork]:
    """Create this run's networks in the first free slot. Raises LabError when every slot is taken."""
    for slot in range(SLOTS):
        wanted = _subnets(slot)
        used = _used_subnets(client)
        # The slot's quarantine subnet must be free too, though it is made only when needed.
        if any(net.overlaps(u) for net in [*wanted.values(), quarantine_subnet(slot)] for u in used):
            continue
        created: dict[str, LabNetwork] = {}
        try:
            for role, subnet in wanted.items():
                ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])
                network = client.networks.create(
                    f"{prefix}-{role}", driver="bridge", internal=True, ipam=ipam,
                    labels={RUN_LABEL: run_id}, options={"com.docker.network.bridge.name": f"{prefix}-{role}"[:15]},
                )
                created[role] = LabNetwork.of(role, network, subnet)
            return created
        except docker.errors.APIError as exc:
            for net in created.values():
                with contextlib.suppress(docker.errors.APIError):
                    client.networks.get(net.id).remove()
            if "overlap" in str(exc).lower():
                continue  # another run took the slot between our look and our create
            raise LabError(f"could not create lab network: {exc}") from exc
    raise LabError(f"all {SLOTS} lab network slots in {LAB_RANGE} are in use: run `stowaway reap`")


def create_quarantine_network(client: docker.DockerClient, run_id: str, prefix: str, slot: int) -> LabNetwork:
    """Create the run's quarantine network in its slot: internal, labelled with the run like every
    lab object, and with inter-container traffic off, so two contained containers cannot reach each
    other either (the engine drops bridge-to-same-bridge forwarding; no lab rule accepts it).

    Raises:
        LabError: the engine refused (the subnet is taken: another engine's bridge, a leftover).
    """
    subnet = quarantine_subnet(slot)
    name = f"{prefix}-{QUARANTINE_ROLE}"
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])
    try:
        network = client.networks.create(
            name, driver="bridge", internal=True, ipam=ipam, labels={RUN_LABEL: run_id},
            options={"com.docker.network.bridge.name": name[:15], "com.docker.network.bridge.enable_icc": "false"},
        )
    except docker.errors.APIError as exc:
        raise LabError(f"could not create the quarantine network {name} ({subnet}): {exc}") from exc
    return LabNetwork.of(QUARANTINE_ROLE, network, subnet)
