"""Store stock poller: every POLL_EVERY_S seconds it reads the stock of the store's hot SKUs from
the warehouse inventory service (INVENTORY_URL, the service's name on the orchestrator's
network) and keeps the figures for the store's shelf screens. One summary line per round in the
poll log; failures are logged and retried next round.

It keeps one HTTP/1.1 connection open and reuses it, as a pooled client does: new connections
through the service's virtual IP sometimes stall for seconds on this orchestrator.
"""

import http.client
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

HOT_SKUS = (3, 17, 42, 101, 256)

log = logging.getLogger("stock-poller")


class Inventory:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "", parts.port or 80
        self.conn: http.client.HTTPConnection | None = None

    def on_hand(self, sku: int) -> int:
        for attempt in (1, 2):  # a kept connection the server closed meanwhile: reconnect once
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
            try:
                self.conn.request("GET", f"/stock/{sku}")
                answer = self.conn.getresponse()
                body = answer.read(4096)
                if answer.status != 200:
                    raise OSError(f"HTTP {answer.status}")
                return int(json.loads(body)["on_hand"])
            except (OSError, http.client.HTTPException) as exc:
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise OSError(str(exc)) from exc
        raise AssertionError("unreachable")


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    inventory = Inventory(os.environ["INVENTORY_URL"])
    every = float(os.environ.get("POLL_EVERY_S", "2"))
    state = Path(os.environ.get("STATE_DIR", "/var/lib/stock-poller"))
    state.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    rounds = 0
    with open(state / "polls.log", "a", buffering=1) as polls:
        while not stop.is_set():
            started = time.monotonic()
            figures, failed = {}, 0
            for sku in HOT_SKUS:
                try:
                    figures[sku] = inventory.on_hand(sku)
                except (OSError, ValueError, KeyError) as exc:
                    failed += 1
                    log.warning("sku %d: %s", sku, exc)
            rounds += 1
            took_ms = (time.monotonic() - started) * 1000
            polls.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} round={rounds} ok={len(figures)} failed={failed} "
                        f"ms={took_ms:.0f}\n")
            (state / "shelf.json").write_text(json.dumps(figures))
            stop.wait(max(0.0, every - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
