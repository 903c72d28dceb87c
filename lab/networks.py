"""Lab networks, all inside 198.18.0.0/15 (RFC 2544's benchmarking range) and all ``--internal``.

Each run gets its own three networks, so parallel runs never share a broadcast domain:
- ``lan``:  the lab LAN where workloads live            198.18.(2k).0/24
- ``dev``:  a sanctioned development network             198.18.(2k+1).0/24
- ``inet``: the lab "internet", sinkhole and C2 live here 198.19.k.0/24
``k`` is the first slot free on the engine. Internal networks have no route off the host: the
engine's own iptables rules drop anything leaving the subnet, and the lab adds a host guard rule
on top (see ``containment``).
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
        if any(net.overlaps(u) for net in wanted.values() for u in used):
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
