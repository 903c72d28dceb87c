"""Item recommender: serves "customers also viewed" lookups from an item-embedding table held in
memory. At start it loads the whole table (MODEL_MB, 400 MiB by default: 256-byte vectors for about
1.6 million items) before it accepts a request, as model servers do, and holds it for its lifetime.
The table is generated from MODEL_SEED, standing in for the model file a training job publishes.

GET /similar/<item>?k=N  -> the N most similar items among a fixed candidate set of the item's bucket
GET /healthz             -> 200 once the model is loaded
"""

import json
import logging
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DIMS = 256
CANDIDATES = 64  # vectors compared per lookup: a bucket of the nearest-neighbour index
MAX_IN_FLIGHT = 8
CHUNK = 1024 * 1024

log = logging.getLogger("recommender")


class Model:
    def __init__(self, megabytes: int, seed: int) -> None:
        started = time.monotonic()
        # Filled a mebibyte at a time: every page is written, so the table is resident from here on,
        # not faulted in lazily.
        rng = random.Random(seed)
        self.table = bytearray(megabytes * CHUNK)
        for start in range(0, len(self.table), CHUNK):
            self.table[start:start + CHUNK] = rng.randbytes(CHUNK)
        self.items = len(self.table) // DIMS
        log.info("model loaded: %d items x %d dims (%d MiB) in %.1fs", self.items, DIMS, megabytes,
                 time.monotonic() - started)

    def vector(self, item: int) -> bytearray:
        start = (item % self.items) * DIMS
        return self.table[start:start + DIMS]

    def similar(self, item: int, k: int) -> list[int]:
        query = self.vector(item)
        bucket = (item * 2654435761) % self.items  # the item's bucket in the index
        scored = []
        for offset in range(CANDIDATES):
            other = (bucket + offset * 7919) % self.items
            if other == item % self.items:
                continue
            # bytes compare as unsigned ints; a dot product over a 16-byte stride is the index's
            # coarse score (the full vector is only re-ranked offline).
            vector = self.vector(other)
            scored.append((sum(a * b for a, b in zip(query[::16], vector[::16], strict=True)), other))
        scored.sort(reverse=True)
        return [other for _, other in scored[:k]]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    model: Model
    slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
    counter = threading.Lock()
    served = 0

    def log_message(self, format: str, *args: object) -> None:
        pass  # one summary line per 100 lookups instead

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, {"status": "ok", "items": self.model.items, "served": Handler.served})
            return
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "similar" or not parts[1].isdigit() or len(parts[1]) > 9:
            self._send(404, {"error": "not found"})
            return
        if not self.slots.acquire(blocking=False):
            self._send(503, {"error": "busy"})
            return
        try:
            k = min(max(int((parse_qs(url.query).get("k") or ["4"])[0]), 1), 20)
            self._send(200, {"item": int(parts[1]), "similar": self.model.similar(int(parts[1]), k)})
        except ValueError:
            self._send(400, {"error": "k must be a number"})
        finally:
            self.slots.release()
        with Handler.counter:
            Handler.served += 1
            served = Handler.served
        if served % 100 == 0:
            log.info("served %d lookups", served)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    Handler.model = Model(int(os.environ.get("MODEL_MB", "400")), int(os.environ.get("MODEL_SEED", "20261130")))
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("LISTEN_PORT", "8500"))), Handler)
    server.daemon_threads = True
    Handler.timeout = 15
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info("recommender listening on %s", server.server_address)
    server.serve_forever()


if __name__ == "__main__":
    main()
