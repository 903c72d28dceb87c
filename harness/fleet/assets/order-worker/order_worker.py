"""Order fulfilment worker: takes order ids off the Redis queue the storefront fills, reserves the
stock and marks the order fulfilled in PostgreSQL, one transaction per order.

Configuration from the environment: PG* (libpq), REDIS_HOST, HEARTBEAT (a file touched on every
loop, which the image's health check reads). Stops cleanly on SIGTERM after the order in hand.
"""

import logging
import os
import signal
import sys
import time
from pathlib import Path

import psycopg2
import redis

QUEUE = "orders:pending"
POP_TIMEOUT_S = 5  # a blocking pop wakes at least this often, to beat the heartbeat and see SIGTERM

log = logging.getLogger("order-worker")
stopping = False


def stop(*_: object) -> None:
    global stopping
    stopping = True


def connect() -> "psycopg2.extensions.connection":
    for attempt in range(60):
        try:
            return psycopg2.connect(connect_timeout=3)
        except psycopg2.OperationalError as exc:
            log.info("database not ready (attempt %d): %s", attempt + 1, str(exc).strip())
            time.sleep(1)
    sys.exit("database unreachable for 60s")


def fulfil(conn: "psycopg2.extensions.connection", order_id: int) -> bool:
    with conn, conn.cursor() as cur:
        cur.execute("SELECT product_id, quantity FROM orders WHERE id = %s AND status = 'pending' FOR UPDATE",
                    (order_id,))
        row = cur.fetchone()
        if row is None:
            return False  # already handled (a redelivery) or unknown
        product_id, quantity = row
        cur.execute("UPDATE products SET stock = GREATEST(stock - %s, 0) WHERE id = %s", (quantity, product_id))
        cur.execute("UPDATE orders SET status = 'fulfilled', fulfilled_at = now() WHERE id = %s", (order_id,))
    return True


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, stop)
    heartbeat = Path(os.environ.get("HEARTBEAT", "/run/order-worker/heartbeat"))
    heartbeat.parent.mkdir(parents=True, exist_ok=True)
    queue = redis.Redis(host=os.environ.get("REDIS_HOST", "cache"), port=6379, socket_timeout=POP_TIMEOUT_S + 5,
                        socket_connect_timeout=3)
    conn = connect()
    done = 0
    while not stopping:
        heartbeat.touch()
        try:
            item = queue.brpop([QUEUE], timeout=POP_TIMEOUT_S)
        except redis.RedisError as exc:
            log.warning("queue unavailable: %s", exc)
            time.sleep(1)
            continue
        if item is None:
            continue
        order_id = int(item[1])
        try:
            if fulfil(conn, order_id):
                done += 1
                queue.incr("stats:fulfilled")
                if done % 25 == 0:
                    log.info("fulfilled %d orders", done)
        except psycopg2.OperationalError as exc:
            log.warning("database lost (%s): order %d back on the queue", exc, order_id)
            queue.rpush(QUEUE, order_id)
            conn = connect()
    log.info("stopping after %d orders", done)


if __name__ == "__main__":
    main()
