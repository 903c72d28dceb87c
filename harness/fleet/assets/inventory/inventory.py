"""Warehouse inventory service: stock levels per SKU, read by the stores' pollers and adjusted as
goods arrive and leave (a slow random walk here, standing in for the warehouse's scanners).

GET /stock/<sku>  -> {"sku": ..., "on_hand": ...}
GET /healthz      -> {"status": "ok", "served": N}
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

SKUS = 500
MAX_IN_FLIGHT = 8

log = logging.getLogger("inventory")


class Stock:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.on_hand = {sku: 100 + (sku * 31) % 400 for sku in range(1, SKUS + 1)}
        self.served = 0

    def read(self, sku: int) -> int | None:
        with self.lock:
            self.served += 1
            return self.on_hand.get(sku)

    def drift(self, stop: threading.Event) -> None:
        """Goods in and out: a few SKUs change every second until the service stops."""
        while not stop.wait(1.0):
            with self.lock:
                for sku in random.sample(range(1, SKUS + 1), 5):
                    self.on_hand[sku] = max(0, self.on_hand[sku] + random.randint(-3, 3))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stock: Stock
    slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok", "served": self.stock.served})
            return
        parts = self.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "stock" or not parts[1].isdigit() or len(parts[1]) > 6:
            self._send(404, {"error": "not found"})
            return
        if not self.slots.acquire(blocking=False):
            self._send(503, {"error": "busy"})
            return
        try:
            on_hand = self.stock.read(int(parts[1]))
            if on_hand is None:
                self._send(404, {"error": "unknown sku"})
            else:
                self._send(200, {"sku": int(parts[1]), "on_hand": on_hand, "at": time.time()})
        finally:
            self.slots.release()


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    Handler.stock = Stock()
    stop = threading.Event()
    threading.Thread(target=Handler.stock.drift, args=(stop,), daemon=True).start()
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("LISTEN_PORT", "8080"))), Handler)
    server.daemon_threads = True
    Handler.timeout = 15

    def shutdown(*_: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, shutdown)
    log.info("inventory listening on %s", server.server_address)
    server.serve_forever()


if __name__ == "__main__":
    main()
