"""Kernel TCP state changes (``sock/inet_sock_set_state``) through tracefs, attributed to process and container.

Packet capture says which address talked; this says which process did. The sensor owns a tracefs
instance, ``stowaway-<run id>-tcp`` (the lab's reaper removes the instances of dead runs; ``stop``
removes this one, always), with only this event enabled and a filter for IPv4, and reads its
``trace_pipe``. The instance prints every field by name (``options/fields``), so ``skaddr`` (the
socket's address in the kernel) joins the transitions of one socket.

Why the join: the connecting task is only on the CPU at ``CLOSE -> SYN_SENT`` (``connect()`` runs in
process context); the source port is chosen just after that transition, and ``SYN_SENT ->
ESTABLISHED`` runs in softirq context, where the pid on the record is whoever was interrupted. So
pid, comm and container are read at SYN_SENT (from /proc while the task is alive) and kept by
socket until the connection is established or fails.

Events (module ``tracefs``, dataset ``tracefs.tcp``):
- ``connection_attempted``: SYN_SENT, with process and container, destination; no source port yet.
- ``connection_established`` / ``connection_failed``: the outcome, with the source port.
- ``connection_accepted``: a passive open (SYN_RECV -> ESTABLISHED); no process (softirq).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event, new_event
from detectors.sensors.attribution import attribute_pid
from detectors.sensors.base import ThreadedSensor
from detectors.sensors.netinventory import Inventory
from detectors.sensors.tracefs import TRACEFS, TracefsUnavailable, TraceInstance
from lab.naming import tracefs_instance

EVENT = "sock/inet_sock_set_state"
STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
          7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV"}
_LINE = re.compile(r"^\s*(?P<comm>.+?)-(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[\d+\]\s+\S+\s+(?P<ts>[\d.]+):\s+"
                   r"inet_sock_set_state:\s+(?P<body>.*)$")
_FIELD = re.compile(r"(\w+)=(\S+)(?:\s+\((-?\d+)\))?")
PENDING_LIMIT = 65536  # sockets waiting for their outcome; beyond this the oldest are forgotten


@dataclass(frozen=True, slots=True)
class StateChange:
    ts: float  # the trace clock (seconds since boot); events carry wall time, see the sensor
    pid: int  # the task on the CPU: the connecting task only at SYN_SENT
    comm: str
    skaddr: str
    oldstate: str
    newstate: str
    sport: int
    dport: int
    saddr: str
    daddr: str
    protocol: int


def _ipv4(value: int) -> str:
    # __u8[4] printed as a number: its bytes are the address in wire order on a little-endian host.
    return socket.inet_ntoa(struct.pack("<I", value & 0xFFFFFFFF))


def parse_line(line: str) -> StateChange | None:
    """One trace_pipe line (``fields`` format) as a StateChange; None for anything else."""
    match = _LINE.match(line)
    if match is None:
        return None
    values: dict[str, tuple[str, int | None]] = {}
    for name, raw, decimal in _FIELD.findall(match.group("body")):
        values[name] = (raw, int(decimal) if decimal else None)

    def num(name: str) -> int:
        raw, decimal = values.get(name, ("0", 0))
        if decimal is not None:
            return decimal
        return int(raw, 16) if raw.startswith("0x") else int(raw)

    if num("family") != socket.AF_INET or "skaddr" not in values:
        return None
    return StateChange(
        ts=float(match.group("ts")), pid=int(match.group("pid")), comm=match.group("comm").strip(),
        skaddr=values["skaddr"][0], oldstate=STATES.get(num("oldstate"), str(num("oldstate"))),
        newstate=STATES.get(num("newstate"), str(num("newstate"))), sport=num("sport"), dport=num("dport"),
        saddr=_ipv4(num("saddr")), daddr=_ipv4(num("daddr")), protocol=num("protocol"),
    )


def _read(path: str) -> str:
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        return handle.read().decode(errors="replace").rstrip("\n\x00")
    return ""


def process_fields(pid: int, proc: str = "/proc") -> dict[str, Any]:
    """process.* of a live task: tgid, comm, executable, command line, parent."""
    fields: dict[str, Any] = {"process.thread.id": pid}
    status = _read(f"{proc}/{pid}/status")
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == "Tgid":
            fields["process.pid"] = int(value)
        elif key == "PPid":
            fields["process.parent.pid"] = int(value)
        elif key == "Name":
            fields["process.name"] = value.strip()
    tgid = fields.get("process.pid", pid)
    cmdline = _read(f"{proc}/{tgid}/cmdline").replace("\x00", " ").strip()
    if cmdline:
        fields["process.command_line"] = cmdline
    with contextlib.suppress(OSError):
        fields["process.executable"] = os.readlink(f"{proc}/{tgid}/exe")
    return fields


def instance_name(run_id: str) -> str:
    return tracefs_instance(run_id, "tcp")


class TcpStateSensor(ThreadedSensor):
    name: ClassVar[str] = "tracefs-tcp"

    def __init__(self, run_id: str, inventory: Inventory | None = None, tracefs: Path = TRACEFS,
                 proc: str = "/proc") -> None:
        super().__init__(extra_stats=("unattributed",))
        self.trace = TraceInstance(instance_name(run_id), tracefs)
        self.tracefs = tracefs
        self.inventory = inventory
        self.proc = proc
        self._pending: dict[str, dict[str, Any]] = {}  # skaddr -> fields known at SYN_SENT
        # trace clock (boot-based) -> wall clock, measured once at start
        self._offset = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)

    # --- tracefs set-up and teardown --------------------------------------------------------
    def open(self) -> None:
        try:
            # Every field by name (``skaddr`` joins a socket's transitions); the boot clock, so the
            # offset measured at start turns trace time into wall time; IPv4 only.
            self.trace.create([EVENT], filters={EVENT: "family == 2"}, options=["fields"])
        except (OSError, TracefsUnavailable) as exc:
            # Optional, like every sensor: without tracefs or this tracepoint the others still run,
            # and the monitor reports this one unavailable, with why.
            self.unavailable = str(exc)
            self._stats.errors += 1

    def close(self) -> None:
        if not self.trace.remove():
            self._stats.errors += 1  # left behind: the lab's reaper removes it later

    def run(self) -> None:
        for lines in self.trace.lines(self._stop):
            for raw in lines:
                try:
                    self._handle(raw.decode(errors="replace"))
                except Exception:  # one odd line (a process gone mid-read) must not end the sensor
                    self._stats.errors += 1

    # --- state changes -> events ------------------------------------------------------------
    def _handle(self, line: str) -> None:
        change = parse_line(line)
        if change is None or change.protocol != socket.IPPROTO_TCP:
            return
        for event in self.events_for(change):
            self.send(event)

    def events_for(self, change: StateChange) -> list[Event]:
        """Turn one state change into events, keeping per-socket state. Separate from I/O for tests."""
        created = change.ts + self._offset
        if change.oldstate == "CLOSE" and change.newstate == "SYN_SENT":
            fields = self._attempt_fields(change)
            if len(self._pending) >= PENDING_LIMIT:
                self._pending.pop(next(iter(self._pending)))
            self._pending[change.skaddr] = fields
            return [self._event("connection_attempted", created, fields)]
        if change.oldstate == "SYN_SENT":
            pending = self._pending.pop(change.skaddr, None)
            if pending is None:
                return []  # its SYN_SENT happened before we started
            fields = {**pending, "source.ip": change.saddr, "source.port": change.sport}
            action = "connection_established" if change.newstate == "ESTABLISHED" else "connection_failed"
            return [self._event(action, created, fields)]
        if change.oldstate == "SYN_RECV" and change.newstate == "ESTABLISHED":
            fields = {"source.ip": change.daddr, "source.port": change.dport,
                      "destination.ip": change.saddr, "destination.port": change.sport,
                      "network.direction": "ingress", "network.transport": "tcp"}
            fields.update(self._container_by_ip(change.saddr))
            return [self._event("connection_accepted", created, fields)]
        return []

    def _attempt_fields(self, change: StateChange) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "destination.ip": change.daddr, "destination.port": change.dport, "network.transport": "tcp",
            "network.direction": "egress", "process.thread.id": change.pid, "process.name": change.comm,
            "tracefs.skaddr": change.skaddr,
        }
        fields.update(process_fields(change.pid, self.proc))
        attribution = attribute_pid(change.pid, self.proc)
        if attribution is None:
            self._stats.extra["unattributed"] += 1
            return fields
        fields["container.id"] = attribution.workload_id
        if attribution.inner_ids:  # a pod in a kind node: the node's inventory entry is not the pod's
            fields["orchestrator.node.container_id"] = attribution.container_id
        elif self.inventory is not None:
            info = self.inventory.by_id(attribution.container_id)
            if info is not None:
                fields.update(info.fields("container"))
                fields["container.id"] = attribution.container_id
        peer = self.inventory.by_ip(change.daddr) if self.inventory is not None else None
        if peer is not None:
            fields.update(peer.fields("destination.container"))
        network = self.inventory.network_at(change.daddr) if self.inventory is not None else None
        if network:
            fields["destination.network.id"], fields["destination.network.name"] = network
        return fields

    def _container_by_ip(self, address: str) -> dict[str, Any]:
        info = self.inventory.by_ip(address) if self.inventory is not None else None
        return info.fields("container") if info is not None else {}

    @staticmethod
    def _event(action: str, created: float, fields: dict[str, Any]) -> Event:
        event = new_event("tracefs", "tracefs.tcp", action, created=created)
        event["event.category"] = "network"
        event.update(fields)
        return event
