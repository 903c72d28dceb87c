"""Containment drill: capture on every host interface that is not a lab bridge while the whole suite runs;
then check that a lab container cannot open a connection to the host itself.

Counted: packets to or from the lab range on host interfaces (eth0, lo, tunnels, ...), and packets
on any lab bridge from the lab range to an address outside it (broadcast and multicast stay on the
link and are not counted), IPv6 to anything but link-local and multicast. A control capture on the
lab bridges counts the lab's own traffic: a zero above means nothing only if the control saw packets.
Bridges appear as the run creates its networks, so they are looked for once a second.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.bench.report import Figure
from lab import LAB_RANGE

LEAK_FILTER = f"net {LAB_RANGE}"
ESCAPE_FILTER = (f"(ip and src net {LAB_RANGE} and not dst net {LAB_RANGE} and not dst host 255.255.255.255 "
                 "and not ip multicast) or (ip6 and not dst net fe80::/10 and not ip6 multicast)")
Progress = Callable[[str], None]


@dataclass
class Capture:
    iface: str
    bpf: str
    count: int = 0
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
                if frame:
                    self.count += 1
                    if len(self.seen) < 20:
                        self.seen.append(Ether(frame).summary())
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"  # a bridge removed at the end of a scenario
        finally:
            with contextlib.suppress(Exception):
                sock.close()


def lab_bridges(client: Any) -> set[str]:
    bridges = set()
    for net in client.api.networks():
        subnets = [c.get("Subnet") for c in (net.get("IPAM") or {}).get("Config") or [] if c.get("Subnet")]
        inside = [s for s in subnets if ":" not in s and ipaddress.IPv4Network(s).subnet_of(LAB_RANGE)]
        if net.get("Driver") == "bridge" and inside:
            bridges.add((net.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{net['Id'][:12]}")
    return bridges


def host_interfaces(bridges: set[str], root: Path = Path("/sys/class/net")) -> list[str]:
    out = []
    for path in sorted(root.iterdir()):
        master = path / "master"
        if path.name in bridges or (master.exists() and os.path.basename(os.readlink(master)) in bridges):
            continue
        if path.name.startswith("veth"):
            continue  # a veth with no master yet is a lab container's port being set up
        out.append(path.name)
    return out


class Watcher:
    """Host-interface captures fixed at start; bridge captures added as lab bridges appear."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.captures: list[Capture] = []
        self.controls: list[Capture] = []
        self._bridges: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        bridges = lab_bridges(client)
        self.hosts = host_interfaces(bridges)
        for iface in self.hosts:
            self._start(Capture(iface, LEAK_FILTER))
        self._add_bridges(bridges)
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _start(self, capture: Capture, control: bool = False) -> None:
        (self.controls if control else self.captures).append(capture)
        thread = threading.Thread(target=capture.run, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _add_bridges(self, bridges: set[str]) -> None:
        for bridge in sorted(bridges - self._bridges):
            self._bridges.add(bridge)
            self._start(Capture(bridge, ESCAPE_FILTER))
            self._start(Capture(bridge, LEAK_FILTER), control=True)

    def _poll(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception):
                self._add_bridges(lab_bridges(self.client))

    def stop(self) -> None:
        self._stop.set()
        for capture in self.captures + self.controls:
            capture.stop.set()
        for thread in self._threads:
            thread.join(timeout=5)


def run(work: Path, progress: Progress) -> list[Figure]:
    from harness.bench.suite import run_suite
    from lab import engine as engine_mod

    # The drill holds a lease of its own for the whole capture: otherwise the engine may be down
    # (an earlier drill stopped it) or stop between two runs, and there would be no bridges to list.
    lease = f"drill-containment-{os.getpid()}"
    engine = engine_mod.acquire(lease)
    try:
        figures = _capture_during_suite(engine.client, work, progress, run_suite)
    finally:
        engine_mod.release(engine, lease)
    return [*figures, host_reach_figure(progress)]


def _capture_during_suite(client: Any, work: Path, progress: Progress, run_suite: Callable[..., Any]) -> list[Figure]:
    watcher = Watcher(client)
    progress(f"drills: capturing on {len(watcher.hosts)} host interface(s) ({', '.join(watcher.hosts)}) while the "
             "whole suite runs")
    started = time.monotonic()
    try:
        suite = run_suite(work / "containment-suite", 4)
    finally:
        watcher.stop()
    host = [c for c in watcher.captures if c.iface in watcher.hosts]
    bridges = [c for c in watcher.captures if c.iface not in watcher.hosts]
    leaked = {c.iface: {"count": c.count, "seen": c.seen} for c in host if c.count}
    escaped = {c.iface: {"count": c.count, "seen": c.seen} for c in bridges if c.count}
    control = sum(c.count for c in watcher.controls)
    card = suite["scorecard"]
    detail = {"host_interfaces": watcher.hosts, "host_capture_errors": {c.iface: c.error for c in host if c.error},
              "bridges_watched": len(bridges), "control_packets_on_lab_bridges": control,
              "suite_exit": suite["exit"], "suite_verdicts": card.get("summary", {}).get("verdicts"),
              "seconds": round(time.monotonic() - started, 1)}
    valid = control > 0 and any(c.iface == "lo" and not c.error for c in host)
    why = "" if valid else "the control capture saw no lab traffic (or lo could not be captured): zero proves nothing"
    return [
        Figure("containment.host-interfaces", "packets to or from the lab range on host interfaces that are not lab "
               "bridges, whole suite", sum(c.count for c in host) if valid else None, 0, "<=", "packets",
               detail={**detail, "leaked": leaked}, skipped=why),
        Figure("containment.escapes", "packets from lab containers to addresses outside 198.18.0.0/15 (on every lab "
               "bridge), whole suite", sum(c.count for c in bridges) if valid else None, 0, "<=", "packets",
               detail={"escaped": escaped}, skipped=why),
    ]


@dataclass
class HostReach:
    """A container's attempt to open a connection to a listener on its bridge's host address."""

    address: str
    port: int
    connect_result: str  # what connect_ex returned inside the container ("0": connected)
    accepted: list[str]  # peers the host listener accepted

    @property
    def reached(self) -> bool:
        return self.connect_result == "0" or bool(self.accepted)


def probe_host_reach(lab: Any, gateway: str) -> HostReach:
    """Listen on ``gateway`` (a lab bridge's host address) for as long as one container on that
    network tries to connect (bounded: 3 s connect timeout, the listener polls every 0.2 s and stops
    with the probe). The lab's INPUT guard must refuse it."""
    from lab import WorkloadSpec

    server = socket.create_server((gateway, 0))
    server.settimeout(0.2)
    stop, accepted = threading.Event(), []

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                peer, where = server.accept()
                accepted.append(where[0])
                peer.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        box = lab.deploy(WorkloadSpec(role="probe", networks=("lan",)))
        probe = ("python3 -c \"import socket; s=socket.socket(); s.settimeout(3); "
                 f"print(s.connect_ex(('{gateway}', {port})))\"")
        result = lab.exec(box, "sh", "-c", probe, check=False).output.strip()
        return HostReach(gateway, port, result, accepted)
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


def host_reach_figure(progress: Progress) -> Figure:
    """The drill's second question: can a lab container open a connection to the host itself?"""
    from lab import LabSession

    with LabSession() as session:
        lab = session.scope("drill-host-reach")
        try:
            reach = probe_host_reach(lab, session.networks["lan"].host(1))
        finally:
            lab.unwind()
        guarded = session.guarded
    progress(f"drills: a lab container connecting to the host's {reach.address}:{reach.port}: "
             f"{'reached it' if reach.reached else 'refused'}")
    return Figure("containment.host-reach", "connections a lab container opened to a listener on its bridge's "
                  "host address", 1 if reach.reached else 0, 0, "<=", "connections",
                  detail={"connect_ex": reach.connect_result, "accepted": reach.accepted, "guarded": guarded},
                  skipped="" if guarded else "the host's iptables guard could not be installed")
