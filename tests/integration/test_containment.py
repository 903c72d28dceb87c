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
import socket
import threading

import pytest

# The capture code is the containment drill's own: the test and `nox -s drills` judge with one tool.
from harness.drills.containment import (
    ESCAPE_FILTER,
    LEAK_FILTER,
    Capture,
    host_interfaces,
    lab_bridges,
    probe_host_reach,
)
from harness.outcome import Verdict
from lab import WorkloadSpec
from scenarios.registry import load

pytestmark = pytest.mark.integration

NETWORK_SCENARIOS = [s.id for s in load().all() if s.id.startswith("docker.network.")]


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


def test_a_lab_container_cannot_open_a_connection_to_the_host(lab_session, lab):
    """The host listens on the LAN bridge's own address (where an internal network still reaches it);
    a container on that network is refused by the lab's INPUT guard, while the host's own connection
    to the container (the harness's path to what it runs) works both ways."""
    if not lab_session.guarded:
        pytest.fail("the lab's iptables guard is not installed on this host")
    reach = probe_host_reach(lab, lab_session.networks["lan"].host(1))
    assert not reach.reached, f"the container reached the host's {reach.address}:{reach.port} ({reach})"
    # The host still opens connections into the lab, and the answers come back.
    box = lab.deploy(WorkloadSpec(role="app", networks=("lan",),
                                  command=("python3", "-m", "http.server", "8080", "--bind", "0.0.0.0")))
    address = box.addresses["lan"]
    lab.wait_for(lambda: _answers(address, 8080), timeout=20, what="the container's web server")


def _answers(address: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=2) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return conn.recv(12).startswith(b"HTTP/1.")
    return False
