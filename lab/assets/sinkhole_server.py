"""Sinkhole / C2 endpoint that runs inside a lab container on the lab "internet".

It accepts TCP on the given ports, DNS over UDP, and datagrams on the log-shipping UDP ports (syslog,
GELF) a diverted log driver sends to; it answers like the service it pretends to be,
and appends one JSON line per connection (or datagram) to the record file: time, protocol, port,
peer, bytes received and the first bytes. It stops by itself after --max-seconds or after
--max-connections, so it can never outlive a forgotten run for long.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import socket
import struct
import time
from typing import Any, cast

HTTP_PORTS = {80, 443, 8080, 3128}
# A request that starts like HTTP is answered as HTTP on any port: C2 and exfil endpoints listen on odd ports.
HTTP_METHODS = {b"GET", b"POST", b"PUT", b"HEAD", b"OPTIONS", b"PATCH", b"DELETE", b"CONNECT"}


def record(path: str, **fields: Any) -> None:
    fields["ts"] = time.time()
    with open(path, "a") as out:
        out.write(json.dumps(fields) + "\n")


class Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit
        self.done = asyncio.Event()

    def take(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.done.set()


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


async def handle_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int, path: str,
                     budget: Budget) -> None:
    """Read what the peer sends and record it. On the web ports, and on any port when the request
    starts like HTTP, it is answered the way a web server would: after its whole body (Content-Length,
    with a 100 Continue when the client waits for one), one request per connection. Anything else
    gets "ok" at once and is read to the end."""
    peer = writer.get_extra_info("peername")[0]
    first = b""
    total = 0
    started = time.time()
    answered = raw = http = False
    head = b""
    try:
        while total < 64 * 1024 * 1024:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=30)
            if not chunk:
                break
            if not first:
                first = chunk[:256]
                http = port in HTTP_PORTS or first.split(b" ", 1)[0] in HTTP_METHODS
            total += len(chunk)
            if not http or raw:
                if not answered and not http:
                    writer.write(b"ok\n")
                    await writer.drain()
                    answered = True
                continue
            if b"\r\n\r\n" not in head:
                head += chunk
                if b"\r\n\r\n" not in head:
                    raw = len(head) >= 16384  # no request line and headers: a raw stream on a web port
                    continue
                if b"expect: 100-continue" in head.lower():
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await writer.drain()
            headers = head.partition(b"\r\n\r\n")[0]
            length = _content_length(headers)
            if length is None or total - len(headers) - 4 >= length:
                break  # one request per connection is all a sinkhole needs to see
    except (TimeoutError, ConnectionError):
        pass
    finally:
        if http and first:
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                await writer.drain()
        writer.close()
        record(path, proto="tcp", port=port, peer=peer, bytes=total, head=first.decode("latin-1"),
               duration=round(time.time() - started, 3))
        budget.take()


class DnsSinkhole(asyncio.DatagramProtocol):
    """Answers every A question with the sinkhole's own address, as a hijacking resolver would."""

    def __init__(self, answer: str, path: str, budget: Budget) -> None:
        self.answer = socket.inet_aton(answer)
        self.path = path
        self.budget = budget

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram endpoint's, always

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12:
            return
        name, offset = [], 12
        while offset < len(data) and data[offset] != 0:
            length = data[offset]
            name.append(data[offset + 1:offset + 1 + length].decode("latin-1"))
            offset += 1 + length
        question = data[12:offset + 5]
        reply = data[:2] + b"\x81\x80" + b"\x00\x01\x00\x01\x00\x00\x00\x00" + question
        reply += b"\xc0\x0c\x00\x01\x00\x01" + struct.pack(">IH", 60, 4) + self.answer
        self.transport.sendto(reply, addr)
        record(self.path, proto="dns", port=53, peer=addr[0], bytes=len(data), head=".".join(name))
        self.budget.take()


class DatagramRecorder(asyncio.DatagramProtocol):
    """Records every datagram on a port: what a log driver pointed here ships (syslog, GELF)."""

    def __init__(self, port: int, path: str, budget: Budget) -> None:
        self.port, self.path, self.budget = port, path, budget

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        record(self.path, proto="udp", port=self.port, peer=addr[0], bytes=len(data),
               head=data[:256].decode("latin-1"))
        self.budget.take()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", default="80,443,4444,8080,24224")
    parser.add_argument("--udp-ports", default="514,12201")
    parser.add_argument("--address", required=True)
    parser.add_argument("--record", default="/var/log/sinkhole/received.jsonl")
    parser.add_argument("--max-seconds", type=float, default=3 * 3600)
    parser.add_argument("--max-connections", type=int, default=200000)
    args = parser.parse_args()
    budget = Budget(args.max_connections)
    servers = []
    for port in (int(p) for p in args.ports.split(",") if p):
        servers.append(await asyncio.start_server(
            functools.partial(handle_tcp, port=port, path=args.record, budget=budget), "0.0.0.0", port))
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: DnsSinkhole(args.address, args.record, budget),
                                        local_addr=("0.0.0.0", 53))
    for port in (int(p) for p in args.udp_ports.split(",") if p):
        await loop.create_datagram_endpoint(
            functools.partial(DatagramRecorder, port, args.record, budget), local_addr=("0.0.0.0", port))
    record(args.record, proto="control", port=0, peer="", bytes=0, head="ready")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(budget.done.wait(), timeout=args.max_seconds)
    for server in servers:
        server.close()


asyncio.run(main())
