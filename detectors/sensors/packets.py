"""Packet capture on the lab bridges (scapy) -> flow records and DNS events, attributed to containers.

Which interfaces: the engine's bridge networks, whose Linux bridge name matches a configurable
pattern (the lab's are ``stw-*``). The name only picks what to sniff; nothing is judged on it.
Bridges come and go with runs, so the sensor re-reads the engine's networks every second and
starts or drops a sniffer per bridge. Sniffing is promiscuous, so the bridge device also sees the
frames it forwards between two containers.

Attribution is the defender's CMDB view: the address that opened the flow is looked up in the
engine's endpoint data (``Inventory``) and its container's id, name, image and labels are added as
``container.*``; the peer, when it is a container too, as ``destination.container.*``.

Events (module ``network``):
- ``network.flow``: ``start`` on the first packet, ``update`` at most once a second while bytes move,
  ``end`` on FIN/RST or idleness (see ``flows.FlowTable``).
- ``network.dns``: ``dns_query`` and ``dns_answer``, with the question and the answers.

The frames themselves are kept for a while in ``ring`` (``packet_ring.PacketRing``, bounded): a
responder cuts a pcap slice of a workload's traffic around an alert from it.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event, new_event
from detectors.sensors.base import ThreadedSensor
from detectors.sensors.flows import FlowTable, dns_record, packet_from_bytes
from detectors.sensors.netinventory import DEFAULT_BRIDGE_PATTERN, Inventory
from detectors.sensors.packet_ring import PacketRing

BPF_FILTER = "ip and (tcp or udp)"
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
RCVBUF_BYTES = 32 * 1024 * 1024


@dataclass(slots=True)
class _Capture:
    sock: Any
    stop: threading.Event
    thread: threading.Thread
    running: bool = field(default=True)


class PacketSensor(ThreadedSensor):
    """The sensor's own thread closes idle flows every ``flush_s`` and looks for new or gone bridges
    every ``discover_s``; each bridge has a reader thread of its own (``_sniff``)."""

    name: ClassVar[str] = "packets"

    def __init__(self, client: Any, bridge_pattern: str = DEFAULT_BRIDGE_PATTERN,
                 inventory: Inventory | None = None, record_dir: str | Path | None = None,
                 discover_s: float = 1.0, flush_s: float = 0.25) -> None:
        self.inventory = inventory or Inventory(client)
        self.bridge_pattern = bridge_pattern
        self.record_dir = Path(record_dir) if record_dir else None  # write raw pcaps here (fixtures)
        self.discover_s = discover_s
        self.flush_s = flush_s
        self.table = FlowTable()
        self.ring = PacketRing()  # recent frames, for a responder's pcap slice (packet_ring)
        self._lock = threading.Lock()
        self._sniffers: dict[str, Any] = {}
        self._writers: dict[str, Any] = {}
        super().__init__(extra_stats=("packets", "bridges"))

    def open(self) -> None:
        self.inventory.refresh(force=True)
        self._sync_bridges()

    def run(self) -> None:
        next_discovery = time.monotonic() + self.discover_s
        while not self._stop.wait(self.flush_s):
            self._flush()
            if time.monotonic() >= next_discovery:
                next_discovery = time.monotonic() + self.discover_s
                try:
                    self.inventory.refresh(force=True)
                    self._sync_bridges()
                except Exception:  # keep sniffing what we have
                    self._stats.errors += 1

    def close(self) -> None:
        for iface in list(self._sniffers):
            self._drop(iface)
        self._flush(everything=True)  # what is still open is reported as it stands

    def observe(self, event: Event) -> None:
        # A network created or a container connected: look now rather than within the next second.
        if event.get("event.type") == "network" and event.get("event.action") in ("create", "connect"):
            self.inventory.refresh(force=True)

    # --- bridges ----------------------------------------------------------------------------
    def _sync_bridges(self) -> None:
        wanted = {b.interface for b in self.inventory.bridges(self.bridge_pattern)}
        present = {p.name for p in Path("/sys/class/net").iterdir()}
        wanted &= present
        for iface in list(self._sniffers):
            sniffer = self._sniffers[iface]
            if iface not in wanted or not sniffer.running:
                self._drop(iface)
        for iface in sorted(wanted - set(self._sniffers)):
            self._sniff(iface)
        self._stats.extra["bridges"] = len(self._sniffers)

    def _sniff(self, iface: str) -> None:
        # The link layers must be registered before a socket opens, or frames arrive as raw bytes.
        import scapy.layers.l2  # noqa: F401
        from scapy.config import conf

        try:
            sock = conf.L2listen(iface=iface, filter=BPF_FILTER)
        except Exception:  # the bridge vanished between our look and our open
            self._stats.errors += 1
            return
        # A transfer fills the default buffer in milliseconds; a deep one rides out a slow moment.
        with contextlib.suppress(OSError):
            sock.ins.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES)
        if self.record_dir is not None:
            from scapy.utils import PcapWriter

            self.record_dir.mkdir(parents=True, exist_ok=True)
            writer = PcapWriter(str(self.record_dir / f"{iface}.pcap"), append=True, sync=True, linktype=1)
            writer.write_header(None)  # write_packet, unlike write, never writes the file header itself
            self._writers[iface] = writer
        stop = threading.Event()
        thread = threading.Thread(target=self._read, args=(iface, sock, stop), name=f"packets-{iface}", daemon=True)
        self._sniffers[iface] = _Capture(sock=sock, stop=stop, thread=thread)
        thread.start()

    def _read(self, iface: str, sock: Any, stop: threading.Event) -> None:
        capture = self._sniffers.get(iface)
        try:
            while not stop.is_set() and not self._stop.is_set():
                ready, _, _ = select.select([sock.ins], [], [], 0.2)
                if not ready:
                    continue
                _, frame, ts = sock.recv_raw()
                if frame:
                    try:
                        self._on_frame(frame, float(ts or time.time()), iface)
                    except Exception:  # a frame we cannot parse is counted, and capture goes on
                        self._stats.errors += 1
        except OSError:
            self._stats.errors += 1  # the bridge went away under us; discovery drops it
        finally:
            if capture is not None:
                capture.running = False

    def _drop(self, iface: str) -> None:
        capture = self._sniffers.pop(iface, None)
        if capture is not None:
            capture.stop.set()
            capture.thread.join(timeout=2)
            with contextlib.suppress(Exception):
                capture.sock.close()
        writer = self._writers.pop(iface, None)
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()

    # --- packets -> events ------------------------------------------------------------------
    def _on_frame(self, frame: bytes, ts: float, iface: str) -> None:
        self._stats.extra["packets"] += 1
        writer = self._writers.get(iface)
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.write_packet(frame, sec=int(ts), usec=int((ts % 1) * 1e6))
        try:
            info = packet_from_bytes(frame, ts)
        except (IndexError, ValueError, struct.error):  # a truncated frame is dropped, and counted
            self._stats.dropped += 1
            return
        if info is None:
            return
        self.ring.add(ts, frame, info.src, info.dst)
        with self._lock:
            records = self.table.add(info, iface)
        for record in records:
            self._send("network.flow", record)
        dns = dns_record(info)
        if dns is not None:
            dns["observer.ingress.interface.name"] = iface
            self._send("network.dns", dns)

    def _flush(self, everything: bool = False) -> None:
        try:
            with self._lock:
                records = self.table.flush(time.time(), everything=everything)
            for record in records:
                self._send("network.flow", record)
        except Exception:  # counted: the flush must keep running or flows never close
            self._stats.errors += 1

    def _send(self, dataset: str, record: dict[str, Any]) -> None:
        created = record.get("event.start") if record["event.action"] in ("start", "dns_query", "dns_answer") else None
        event = new_event("network", dataset, record["event.action"], created=created)
        event.update(record)
        event.update(self.attribute(record))
        self.send(event)

    def attribute(self, record: dict[str, Any]) -> dict[str, Any]:
        """container.* for the side that opened the flow (or asked the question); destination.container.*
        for the peer when it is a container too."""
        fields: dict[str, Any] = {}
        # When the flow's latest packet (a DNS message's only one) was seen.
        at = record.get("event.end") or record.get("event.start")
        seen = float(at) if isinstance(at, (int, float)) else None
        source = self.inventory.by_ip(record["source.ip"], seen)
        if source is not None:
            fields.update(source.fields("container"))
        peer = self.inventory.by_ip(record["destination.ip"], seen)
        if peer is not None:
            fields.update(peer.fields("destination.container"))
        for side in ("source", "destination"):
            network = self.inventory.network_at(record[f"{side}.ip"])
            if network:
                fields[f"{side}.network.id"], fields[f"{side}.network.name"] = network
        answers = record.get("dns.resolved_ip")
        if isinstance(answers, list) and answers:
            # Where each answer lives, as the engine sees it (an engine network, or none), for the zone.
            fields["dns.resolved_network_ids"] = [(self.inventory.network_at(a) or ("",))[0] for a in answers]
        return fields
