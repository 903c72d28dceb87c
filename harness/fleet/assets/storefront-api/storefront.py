"""Storefront API: product pages (cached in Redis), orders (PostgreSQL, queued in Redis for the
fulfilment worker), and item recommendations from the recommender service.

Configuration comes from the environment: PGHOST, PGUSER, PGPASSWORD, PGDATABASE (libpq reads
them itself), REDIS_HOST, RECOMMENDER_URL, LISTEN_PORT, ACCESS_LOG. One JSON line per request goes
to the access log, a file the process keeps open in append mode (logrotate copies and truncates
it). At start it migrates its schema and seeds the catalogue if it is empty.
"""

import json
import logging
import os
import re
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.pool
import redis

MAX_BODY = 16 * 1024  # an order is a few dozen bytes: anything larger is refused
MAX_IN_FLIGHT = 16  # requests handled at once; more get 503 rather than piling up threads
CACHE_TTL_S = 120
PRODUCTS = 200
PRODUCT = re.compile(r"^/products/(\d{1,9})$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id integer PRIMARY KEY,
    name text NOT NULL,
    price_cents integer NOT NULL,
    stock integer NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id bigserial PRIMARY KEY,
    product_id integer NOT NULL REFERENCES products(id),
    quantity integer NOT NULL CHECK (quantity > 0),
    status text NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL DEFAULT now(),
    fulfilled_at timestamptz
);
CREATE INDEX IF NOT EXISTS orders_created_at ON orders (created_at);
CREATE TABLE IF NOT EXISTS order_rollup (
    minute timestamptz PRIMARY KEY,
    orders integer NOT NULL,
    units integer NOT NULL,
    revenue_cents bigint NOT NULL
);
"""

log = logging.getLogger("storefront")
access = logging.getLogger("storefront.access")


def connect_pool() -> psycopg2.pool.ThreadedConnectionPool:
    """The database may still be starting: retry for a minute, then give up (the engine restarts us)."""
    for attempt in range(60):
        try:
            return psycopg2.pool.ThreadedConnectionPool(1, 8, connect_timeout=3)
        except psycopg2.OperationalError as exc:
            log.info("database not ready (attempt %d): %s", attempt + 1, str(exc).strip())
            time.sleep(1)
    sys.exit("database unreachable for 60s")


def migrate(pool: psycopg2.pool.ThreadedConnectionPool) -> None:
    conn = pool.getconn()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(4242)")  # one migrating instance at a time
            cur.execute(SCHEMA)
            cur.execute("SELECT count(*) FROM products")
            if cur.fetchone()[0] == 0:
                cur.executemany(
                    "INSERT INTO products (id, name, price_cents, stock) VALUES (%s, %s, %s, %s)",
                    [(i, f"item {i:04d}", 199 + (i * 37) % 5000, 1000) for i in range(1, PRODUCTS + 1)])
    finally:
        pool.putconn(conn)


class Storefront:
    def __init__(self) -> None:
        self.pool = connect_pool()
        migrate(self.pool)
        self.cache = redis.Redis(host=os.environ.get("REDIS_HOST", "cache"), port=6379, socket_timeout=2,
                                 socket_connect_timeout=2, health_check_interval=30)
        self.recommender = os.environ.get("RECOMMENDER_URL", "")
        self.slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        conn = self.pool.getconn()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else []
        finally:
            self.pool.putconn(conn)

    def healthy(self) -> bool:
        try:
            return self.query("SELECT 1") == [(1,)] and bool(self.cache.ping())
        except (psycopg2.Error, redis.RedisError):
            return False

    def product(self, product_id: int) -> tuple[int, dict, str]:
        key = f"product:{product_id}"
        cached = self.cache.get(key)
        if cached is not None:
            body, source = json.loads(cached), "cache"
        else:
            rows = self.query("SELECT id, name, price_cents, stock FROM products WHERE id = %s", (product_id,))
            if not rows:
                return 404, {"error": "no such product"}, "db"
            pid, name, price, stock = rows[0]
            body, source = {"id": pid, "name": name, "price_cents": price, "stock": stock}, "db"
            self.cache.setex(key, CACHE_TTL_S, json.dumps(body))
        body = dict(body, recommended=self.recommended(product_id))
        return 200, body, source

    def recommended(self, product_id: int) -> list[int]:
        """Best effort: the page renders without recommendations if the recommender is slow or down."""
        if not self.recommender:
            return []
        try:
            with urllib.request.urlopen(f"{self.recommender}/similar/{product_id}?k=4", timeout=1.5) as answer:
                return [int(i) % PRODUCTS + 1 for i in json.loads(answer.read(4096))["similar"]]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def order(self, payload: dict) -> tuple[int, dict]:
        try:
            product_id, quantity = int(payload["product_id"]), int(payload.get("quantity", 1))
        except (KeyError, TypeError, ValueError):
            return 400, {"error": "product_id and quantity are required"}
        if not 1 <= quantity <= 10:
            return 400, {"error": "quantity must be 1-10"}
        try:
            rows = self.query("INSERT INTO orders (product_id, quantity) VALUES (%s, %s) RETURNING id",
                              (product_id, quantity))
        except psycopg2.IntegrityError:
            return 404, {"error": "no such product"}
        order_id = rows[0][0]
        self.cache.lpush("orders:pending", order_id)
        return 201, {"order": order_id, "status": "pending"}


class Handler(BaseHTTPRequestHandler):
    server_version = "storefront/1.4"
    protocol_version = "HTTP/1.1"
    app: Storefront

    def log_message(self, format: str, *args: object) -> None:
        pass  # the access log below replaces http.server's stderr lines

    def _send(self, status: int, body: dict, started: float, source: str = "") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        access.info(json.dumps({
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "remote": self.headers.get("X-Real-IP") or
            self.client_address[0], "method": self.command, "path": self.path, "status": status,
            "bytes": len(data), "ms": round((time.monotonic() - started) * 1000, 1), "source": source,
            "agent": self.headers.get("User-Agent", "")}))

    def _guarded(self, handle: Callable[[float], None]) -> None:
        started = time.monotonic()
        if not self.app.slots.acquire(blocking=False):
            self._send(503, {"error": "busy"}, started)
            return
        try:
            handle(started)
        except (psycopg2.Error, redis.RedisError) as exc:
            log.warning("backend error on %s %s: %s", self.command, self.path, exc)
            self._send(503, {"error": "backend unavailable"}, started)
        finally:
            self.app.slots.release()

    def do_GET(self) -> None:
        def handle(started: float) -> None:
            if self.path == "/healthz":
                ok = self.app.healthy()
                self._send(200 if ok else 503, {"status": "ok" if ok else "degraded"}, started)
                return
            match = PRODUCT.match(self.path)
            if match is None:
                self._send(404, {"error": "not found"}, started)
                return
            status, body, source = self.app.product(int(match.group(1)))
            self._send(status, body, started, source)
        self._guarded(handle)

    def do_POST(self) -> None:
        def handle(started: float) -> None:
            if self.path != "/orders":
                self._send(404, {"error": "not found"}, started)
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                self._send(413 if length else 411, {"error": "bad body length"}, started)
                return
            try:
                payload = json.loads(self.rfile.read(length))
            except ValueError:
                self._send(400, {"error": "not JSON"}, started)
                return
            status, body = self.app.order(payload if isinstance(payload, dict) else {})
            self._send(status, body, started)
        self._guarded(handle)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    handler = logging.FileHandler(os.environ.get("ACCESS_LOG", "/var/log/storefront/access.log"), mode="a")
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.propagate = False
    Handler.app = Storefront()
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("LISTEN_PORT", "8000"))), Handler)
    server.daemon_threads = True
    server.timeout = 10
    Handler.timeout = 15  # an idle or slow client's connection is closed, not held forever
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info("storefront listening on %s", server.server_address)
    server.serve_forever()
    log.info("storefront stopped")


if __name__ == "__main__":
    main()
