"""Containment: while the network scenarios run, no lab packet reaches the host's own interfaces and
no lab container sends to an address outside the lab networks.

Two captures run for the whole test:
- on every host interface that is not a lab bridge or a port of one (eth0, lo, tunnels, ...), for any
  packet to or from 198.18.0.0/15: a lab packet there has left the lab networks;
- on every lab bridge, for any IPv4 packet from the lab range to an address outside it (broadcast and
  multicast never leave a link and are not counted), and any IPv6 packet to a non-link-local,
  non-multicast address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.outcome import Verdict
from lab import LAB_RANGE
from scenarios.registry import load

pytestmark = pytest.mark.integration

NETWORK_SCENARIOS = [s.id for s in load().all() if s.id.startswith("docker.network.")]
LEAK_FILTER = f"net {LAB_RANGE}"
ESCAPE_FILTER = (f"(ip and src net {LAB_RANGE} and not dst net {LAB_RANGE} and not dst host 255.255.255.255 "
                 "and not ip multicast) or (ip6 and not dst net fe80::/10 and not ip6 multicast)")


def lab_bridges(client) -> set[str]:
    """Bridges of engine networks whose subnet lies in the lab range (every run's, not only ours)."""
    bridges = set()
    for net in client.api.networks():
        subnets = [c.get("Subnet") for c in (net.get("IPAM") or {}).get("Config") or [] if c.get("Subnet")]
        inside = [s for s in subnets if ":" not in s and ipaddress.ip_network(s).subnet_of(LAB_RANGE)]
        if net.get("Driver") == "bridge" and inside:
            bridges.add((net.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{net['Id'][:12]}")
    return bridges


def host_interfaces(bridges: set[str]) -> list[str]:
    out = []
    for path in sorted(Path("/sys/class/net").iterdir()):
        master = path / "master"
        if path.name in bridges or (master.exists() and os.path.basename(os.readlink(master)) in bridges):
            continue
        out.append(path.name)
    return out


@dataclass
class Capture:
    iface: str
    bpf: str
    seen: list[str] = field(default_factory=list)
    error: str = ""
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        from scapy.config import conf
        from scapy.layers.l2 import Ether

        try:
            sock = conf.L2listen(iface=self.iface, filter=self.bpf)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            return
        try:
            while not self.stop.is_set():
                if not select.select([sock.ins], [], [], 0.2)[0]:
                    continue
                _, frame, _ = sock.recv_raw()
                if frame and len(self.seen) < 50:
                    self.seen.append(Ether(frame).summary())
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"  # an interface that went away mid-test
        finally:
            with contextlib.suppress(Exception):
                sock.close()


def test_no_packet_leaves_the_lab_networks(lab_session, run_scenario):
    client = lab_session.engine.client
    bridges = lab_bridges(client)
    ours = {net.name for net in lab_session.networks.values()}
    assert ours <= bridges, "the run's own bridges are among the lab bridges"
    hosts = host_interfaces(bridges)
    assert "lo" in hosts
    captures = [Capture(i, LEAK_FILTER) for i in hosts] + [Capture(b, ESCAPE_FILTER) for b in sorted(bridges)]
    # Positive control: the same capture code and lab filter on our own LAN bridge must see the scenarios'
    # traffic, or an empty result above would prove nothing.
    control = Capture(lab_session.networks["lan"].name, LEAK_FILTER)
    captures.append(control)
    threads = [threading.Thread(target=c.run, daemon=True) for c in captures]
    for thread in threads:
        thread.start()
    try:
        outcomes = [run_scenario(sid) for sid in NETWORK_SCENARIOS]
    finally:
        for capture in captures:
            capture.stop.set()
        for thread in threads:
            thread.join(timeout=5)
    assert outcomes and all(o.verdict is not Verdict.ERROR for o in outcomes), \
        [(o.scenario_id, o.reason) for o in outcomes if o.verdict is Verdict.ERROR]
    opened = [c for c in captures if c.iface in hosts and not c.error]
    assert any(c.iface == "lo" for c in opened), "the loopback capture ran"
    assert all(not c.error for c in captures if c.iface in ours), [c.error for c in captures if c.iface in ours]
    assert control.seen and not control.error, f"the control capture saw nothing: {control.error}"
    leaked = {c.iface: c.seen for c in captures if c.iface in hosts and c.seen}
    assert not leaked, f"lab packets on host interfaces: {leaked}"
    escaped = {c.iface: c.seen for c in captures if c.iface in bridges and c is not control and c.seen}
    assert not escaped, f"lab containers sent outside the lab range: {escaped}"
