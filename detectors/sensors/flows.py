"""Packets -> flow records and DNS events. Pure logic, no sockets: tested on recorded pcaps.

A flow is one TCP connection or one UDP conversation, keyed by its 5-tuple and oriented by who
started it (the SYN's sender; for UDP, the first datagram's sender). It accumulates bytes and
packets per direction, the TCP flags seen, first/last seen, and the HTTP Host of a clear-text
request (so a hijacked name shows on the wire even when no DNS was asked).

The table reports a flow as soon as it opens (``start``), then ``update``s while it moves (at most
once per ``update_s``), and ``end`` when it closes (FIN both ways, RST) or goes idle. Detectors thus
see a new connection within one packet, and volume within about a second.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

TCP_FLAG_LETTERS = (("F", 0x01), ("S", 0x02), ("R", 0x04), ("P", 0x08), ("A", 0x10), ("U", 0x20))
_HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"PATCH ", b"OPTIONS ", b"CONNECT ")
_HOST_HEADER = re.compile(rb"\r\nhost:[ \t]*([^\r\n:]+)", re.IGNORECASE)
HTTP_SNIFF_PACKETS = 4  # look for a Host header in this many initiator payload packets, then stop


@dataclass(frozen=True, slots=True)
class PacketInfo:
    """What the flow table needs from one IPv4 packet."""

    ts: float
    src: str
    dst: str
    transport: str  # "tcp" | "udp"
    sport: int
    dport: int
    length: int  # IP total length: what the packet costs on the wire, headers included
    flags: int = 0  # TCP flags
    payload: bytes = b""  # the first bytes of the transport payload (HTTP sniffing)
    dns: dict[str, Any] | None = None  # parsed DNS message, when the packet carries one


@dataclass(slots=True)
class Flow:
    transport: str
    client: str
    client_port: int
    server: str
    server_port: int
    first_seen: float
    last_seen: float
    interface: str = ""
    initiator_seen: bool = False  # True when the opening packet (SYN / first datagram) was seen
    client_bytes: int = 0
    client_packets: int = 0
    server_bytes: int = 0
    server_packets: int = 0
    flags: int = 0
    fin_client: bool = False
    fin_server: bool = False
    reset: bool = False
    http_host: str = ""
    http_looked: int = 0
    dirty: bool = False
    reported_at: float = 0.0
    ended_at: float = 0.0  # when FIN both ways / RST happened (the flow lingers a moment for late ACKs)

    @property
    def key(self) -> tuple[str, str, int, str, int]:
        return (self.transport, self.client, self.client_port, self.server, self.server_port)

    @property
    def flow_id(self) -> str:
        ends = f"{self.client}:{self.client_port}>{self.server}:{self.server_port}"
        return f"{self.transport}:{ends}@{self.first_seen:.6f}"

    def record(self, action: str) -> dict[str, Any]:
        """The ECS-style fields of this flow (no container attribution: the sensor adds it)."""
        letters = "".join(letter for letter, bit in TCP_FLAG_LETTERS if self.flags & bit)
        out: dict[str, Any] = {
            "event.action": action,
            "event.category": "network",
            "event.start": self.first_seen,
            "event.end": self.last_seen,
            "event.duration_s": round(self.last_seen - self.first_seen, 6),
            "flow.id": self.flow_id,
            "flow.initiator_seen": self.initiator_seen,
            "network.transport": self.transport,
            "network.bytes": self.client_bytes + self.server_bytes,
            "network.packets": self.client_packets + self.server_packets,
            "source.ip": self.client,
            "source.port": self.client_port,
            "source.bytes": self.client_bytes,
            "source.packets": self.client_packets,
            "destination.ip": self.server,
            "destination.port": self.server_port,
            "destination.bytes": self.server_bytes,
            "destination.packets": self.server_packets,
        }
        if self.transport == "tcp":
            out["tcp.flags"] = letters
            out["flow.closed_by"] = "rst" if self.reset else ("fin" if self.fin_client and self.fin_server else "")
        if self.interface:
            out["observer.ingress.interface.name"] = self.interface
        if self.http_host:
            out["http.request.host"] = self.http_host
        return out


def http_host(payload: bytes) -> str:
    """The Host header of a clear-text HTTP request, lower-cased; '' if the payload is not one."""
    if not payload.startswith(_HTTP_METHODS):
        return ""
    match = _HOST_HEADER.search(payload[:4096])
    return match.group(1).decode("latin-1").strip().lower().rstrip(".") if match else ""


@dataclass(slots=True)
class FlowTable:
    update_s: float = 1.0  # at most one update per flow per this many seconds
    tcp_idle_s: float = 60.0
    udp_idle_s: float = 10.0
    linger_s: float = 1.0  # after FIN/RST, wait this long for the last packets before ending the flow
    flows: dict[tuple[str, str, int, str, int], Flow] = field(default_factory=dict)

    def _find(self, p: PacketInfo) -> tuple[Flow | None, bool]:
        forward = self.flows.get((p.transport, p.src, p.sport, p.dst, p.dport))
        if forward is not None:
            return forward, True
        return self.flows.get((p.transport, p.dst, p.dport, p.src, p.sport)), False

    def add(self, p: PacketInfo, interface: str = "") -> list[dict[str, Any]]:
        """Account one packet. Returns the records to report right away (starts, ends of reused keys)."""
        out: list[dict[str, Any]] = []
        flow, from_client = self._find(p)
        syn_only = p.transport == "tcp" and p.flags & 0x02 and not p.flags & 0x10
        if flow is not None and syn_only and (flow.reset or (flow.fin_client and flow.fin_server)):
            # The same 5-tuple opens again: the old connection is over, report it and start afresh.
            out.append(self.flows.pop(flow.key).record("end"))
            flow = None
        opened = flow is None
        if flow is None:
            flow = self._open(p, interface)
            from_client = (p.src, p.sport) == (flow.client, flow.client_port)
        flow.last_seen = max(flow.last_seen, p.ts)
        if from_client:
            flow.client_bytes += p.length
            flow.client_packets += 1
        else:
            flow.server_bytes += p.length
            flow.server_packets += 1
        flow.flags |= p.flags
        if opened:  # reported at once, with this first packet counted
            out.append(flow.record("start"))
            flow.reported_at = p.ts
        if p.transport == "tcp":
            if p.flags & 0x04:
                flow.reset = True
            if p.flags & 0x01:
                if from_client:
                    flow.fin_client = True
                else:
                    flow.fin_server = True
            if (flow.reset or (flow.fin_client and flow.fin_server)) and not flow.ended_at:
                flow.ended_at = p.ts
            if from_client and p.payload and not flow.http_host and flow.http_looked < HTTP_SNIFF_PACKETS:
                flow.http_looked += 1
                host = http_host(p.payload)
                if host:
                    flow.http_host = host
                    out.append(flow.record("update"))  # the Host header matters now, not a second later
                    flow.reported_at = p.ts
                    return out
        flow.dirty = True
        return out

    def _open(self, p: PacketInfo, interface: str) -> Flow:
        client, cport, server, sport = p.src, p.sport, p.dst, p.dport
        seen = True
        if p.transport == "tcp":
            if p.flags & 0x12 == 0x12:  # a SYN-ACK: the other side started it
                client, cport, server, sport = p.dst, p.dport, p.src, p.sport
            elif not p.flags & 0x02:
                # Mid-stream (the capture began after the handshake): the lower port is the service.
                seen = False
                if p.sport < p.dport:
                    client, cport, server, sport = p.dst, p.dport, p.src, p.sport
        elif p.sport < 1024 <= p.dport:
            client, cport, server, sport = p.dst, p.dport, p.src, p.sport  # a reply seen before its request
            seen = False
        flow = Flow(transport=p.transport, client=client, client_port=cport, server=server, server_port=sport,
                    first_seen=p.ts, last_seen=p.ts, interface=interface, initiator_seen=seen)
        self.flows[flow.key] = flow
        return flow

    def flush(self, now: float, everything: bool = False) -> list[dict[str, Any]]:
        """Updates for flows that moved, ends for flows that closed or went idle."""
        out: list[dict[str, Any]] = []
        for key, flow in list(self.flows.items()):
            idle = self.tcp_idle_s if flow.transport == "tcp" else self.udp_idle_s
            closed = flow.ended_at and now - flow.ended_at >= self.linger_s
            if everything or closed or now - flow.last_seen >= idle:
                out.append(flow.record("end"))
                del self.flows[key]
            elif flow.dirty and now - flow.reported_at >= self.update_s:
                out.append(flow.record("update"))
                flow.reported_at = now
                flow.dirty = False
        return out


def _as_list(section: Any, count: int) -> list[Any]:
    """scapy >= 2.6 gives DNS sections as lists, older versions as chained records."""
    if section is None:
        return []
    if isinstance(section, list):
        return section
    items = []
    with contextlib.suppress(IndexError, TypeError):
        for i in range(count):
            items.append(section[i])
    return items


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip(".")
    return str(value).rstrip(".")


def parse_dns(layer: Any) -> dict[str, Any]:
    """A scapy DNS layer as plain data: id, response flag, rcode, questions and answers."""
    questions = [{"name": _text(q.qname).lower(), "type": int(q.qtype)}
                 for q in _as_list(layer.qd, int(layer.qdcount or 0))]
    answers = []
    for rr in _as_list(layer.an, int(layer.ancount or 0)):
        rtype = int(getattr(rr, "type", 0))
        data = getattr(rr, "rdata", "")
        answers.append({"name": _text(rr.rrname).lower(), "type": rtype, "data": _text(data), "ttl": int(rr.ttl)})
    return {"id": int(layer.id), "response": bool(layer.qr), "rcode": int(layer.rcode),
            "questions": questions, "answers": answers}


DNS_TYPES = {1: "A", 2: "NS", 5: "CNAME", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 65: "HTTPS"}
DNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}


def dns_record(p: PacketInfo) -> dict[str, Any] | None:
    """ECS-style fields of one DNS message. Source is always the client, destination the resolver,
    whichever way the packet went, so the event is attributed to the container that asked."""
    if p.dns is None:
        return None
    msg = p.dns
    response = msg["response"]
    client, cport, server, sport = (p.dst, p.dport, p.src, p.sport) if response else (p.src, p.sport, p.dst, p.dport)
    out: dict[str, Any] = {
        "event.action": "dns_answer" if response else "dns_query",
        "event.category": "network",
        "event.start": p.ts,
        "network.transport": p.transport,
        "network.protocol": "dns",
        "source.ip": client,
        "source.port": cport,
        "destination.ip": server,
        "destination.port": sport,
        "dns.id": msg["id"],
        "dns.type": "answer" if response else "query",
    }
    if msg["questions"]:
        first = msg["questions"][0]
        out["dns.question.name"] = first["name"]
        out["dns.question.type"] = DNS_TYPES.get(first["type"], str(first["type"]))
    if response:
        out["dns.response_code"] = DNS_RCODES.get(msg["rcode"], str(msg["rcode"]))
        out["dns.answers.data"] = [a["data"] for a in msg["answers"]]
        out["dns.answers.type"] = [DNS_TYPES.get(a["type"], str(a["type"])) for a in msg["answers"]]
        out["dns.resolved_ip"] = [a["data"] for a in msg["answers"] if a["type"] in (1, 28)]
    return out


def packet_from_bytes(frame: bytes, ts: float) -> PacketInfo | None:
    """Parse an Ethernet frame (802.1Q tags allowed) carrying IPv4 TCP or UDP; None for anything else.

    Headers are read with ``struct``, not dissected by scapy: a bridge carries tens of thousands of
    frames a second during a transfer and a full dissection of each would fall behind (the kernel
    then drops frames and the byte counts lie). Only DNS payloads go through scapy's parser.
    """
    offset, ethertype = 14, int.from_bytes(frame[12:14], "big") if len(frame) >= 14 else 0
    while ethertype in (0x8100, 0x88A8) and len(frame) >= offset + 4:
        ethertype = int.from_bytes(frame[offset + 2:offset + 4], "big")
        offset += 4
    if ethertype != 0x0800 or len(frame) < offset + 20:
        return None
    ip = frame[offset:]
    header_len = (ip[0] & 0x0F) * 4
    total = int.from_bytes(ip[2:4], "big")
    proto = ip[9]
    fragment = int.from_bytes(ip[6:8], "big") & 0x1FFF
    src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
    # GSO frames captured before segmentation may say 0 when they exceed 64 KiB; trust the frame then.
    length = total or len(ip)
    l4 = ip[header_len:]
    if fragment or proto not in (6, 17):
        return None
    if proto == 6 and len(l4) >= 20:
        sport, dport = struct.unpack("!HH", l4[:4])
        data_offset = (l4[12] >> 4) * 4
        return PacketInfo(ts=ts, src=src, dst=dst, transport="tcp", sport=sport, dport=dport, length=length,
                          flags=l4[13], payload=bytes(l4[data_offset:data_offset + 4096]))
    if proto == 17 and len(l4) >= 8:
        sport, dport = struct.unpack("!HH", l4[:4])
        dns = None
        if sport == 53 or dport == 53:
            dns = _dns_from_bytes(bytes(l4[8:]))
        return PacketInfo(ts=ts, src=src, dst=dst, transport="udp", sport=sport, dport=dport, length=length, dns=dns)
    return None


def _dns_from_bytes(payload: bytes) -> dict[str, Any] | None:
    from scapy.layers.dns import DNS

    try:
        return parse_dns(DNS(payload))
    except Exception:  # a malformed DNS message is still a UDP packet
        return None


def packet_info(pkt: Any) -> PacketInfo | None:
    """A scapy packet (from ``rdpcap`` or a sniffer) as PacketInfo."""
    return packet_from_bytes(bytes(pkt), float(pkt.time))
