"""A small HTTP forward proxy (absolute-URI requests and CONNECT), the lab's sanctioned egress proxy.

It runs inside a lab container on the LAN and the lab internet; clients on the LAN send it their
requests, and it opens the outside connection itself, like squid or tinyproxy would. One access-log
line per request goes to stdout (the container's log).
"""

import asyncio
import sys
import time
from urllib.parse import urlsplit


async def pipe(reader, writer):
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    peer = client_writer.get_extra_info("peername")[0]
    try:
        head = await asyncio.wait_for(client_reader.readuntil(b"\r\n\r\n"), timeout=10)
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        client_writer.close()
        return
    request_line, _, rest = head.partition(b"\r\n")
    method, target, version = request_line.decode("latin-1").split(" ", 2)
    if method == "CONNECT":
        host, _, port = target.partition(":")
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port or 443))
        client_writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await client_writer.drain()
    else:
        url = urlsplit(target)
        host, port = url.hostname, url.port or 80
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        upstream_writer.write(f"{method} {path} {version}\r\n".encode("latin-1") + rest)
        await upstream_writer.drain()
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {peer} {method} {target}", flush=True)
    await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 3128
    server = await asyncio.start_server(handle, "0.0.0.0", port)
    async with server:
        await server.serve_forever()


asyncio.run(main())
