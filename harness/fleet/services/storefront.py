"""The storefront: nginx in front of a Python API that uses PostgreSQL, Redis and the recommender;
the order worker behind its queue; and the shoppers, real HTTP clients of the web tier."""

from __future__ import annotations

import json
from collections import Counter

from harness.fleet import usage
from harness.fleet.checks import expect_at_least, first_int, nginx_through, nominal, status_counts
from harness.fleet.context import RUN_FOR_S, Fleet, Running
from harness.fleet.images import LOADGEN, ORDER_WORKER, RECOMMENDER, STOREFRONT_API, STOREFRONT_WEB
from harness.fleet.registry import CheckFailed, Service
from harness.fleet.services.data import client_env
from lab import Mount, WorkloadSpec

MODEL_MB = 400
SHOPPER_PAUSE_S = 0.5  # between requests; with curl's own time, about 1.5-2 requests a second
SHOPPER_RATE = 1.5
LOG_VOLUME_FACT = "log-volume"


def start_recommender(fleet: Fleet) -> Running:
    box = fleet.deploy(WorkloadSpec(role="recommender", image=fleet.image(RECOMMENDER), command=(),
                                    networks=("lan",), env={"MODEL_MB": str(MODEL_MB)},
                                    labels={"app": "recommender", "tier": "backend"}))
    return Running("recommender", [box], facts={"url": f"http://{box.name}:8500"})


def check_recommender(fleet: Fleet, running: Running) -> list[str]:
    served = json.loads(fleet.run(running.main, "curl -fsS http://127.0.0.1:8500/healthz")).get("served", 0)
    held = usage.sample(running.main.id, _pid(fleet, running))
    lines = [expect_at_least("similar-item lookups served", served, nominal(SHOPPER_RATE * 0.8, fleet.held_s(), 0.3))]
    if held is not None:
        lines.append(expect_at_least("MiB held in memory (the embedding table)", round(held.memory_bytes / 2**20),
                                     MODEL_MB))
    return lines


def _pid(fleet: Fleet, running: Running) -> int:
    return int(fleet.lab.inspect(running.main)["State"]["Pid"] or 0)


def start_api(fleet: Fleet) -> Running:
    volume = fleet.lab.create_volume(fleet.lab.name("storefront-logs"))
    api = fleet.deploy(WorkloadSpec(
        role="api", image=fleet.image(STOREFRONT_API), command=(), networks=("lan",),
        env={**client_env(fleet), "REDIS_HOST": fleet.fact("cache", "host"),
             "RECOMMENDER_URL": fleet.fact("recommender", "url")},
        mounts=(Mount(source=volume, target="/var/log/storefront", type="volume"),),
        labels={"app": "storefront-api", "tier": "backend"}))
    return Running("api", [api], facts={"upstream": f"{api.name}:8000", LOG_VOLUME_FACT: volume})


def check_api(fleet: Fleet, running: Running) -> list[str]:
    # The access log and the generations logrotate made of it (copytruncate; older ones gzipped).
    text = fleet.run(running.main, "zcat -f /var/log/storefront/access.log*")
    statuses: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            raise CheckFailed(f"not an access log line: {line[:200]!r}") from None
        statuses[str(entry.get("status"))] += 1
        if entry.get("source"):
            sources[entry["source"]] += 1
    answered = statuses["200"] + statuses["201"]
    return [expect_at_least(f"requests answered (status {dict(sorted(statuses.items()))})", answered,
                            nominal(SHOPPER_RATE, fleet.held_s())),
            expect_at_least(f"product pages from PostgreSQL or Redis (db {sources['db']}, cache {sources['cache']})",
                            sources["db"] + sources["cache"], nominal(SHOPPER_RATE * 0.8, fleet.held_s()))]


def start_web(fleet: Fleet) -> Running:
    web = fleet.deploy(WorkloadSpec(role="web", image=fleet.image(STOREFRONT_WEB), command=(), networks=("lan",),
                                    env={"API_UPSTREAM": fleet.fact("api", "upstream")},
                                    labels={"app": "storefront-web", "tier": "frontend"}))
    return Running("web", [web], facts={"url": f"http://{web.name}"})


def check_web(fleet: Fleet, running: Running) -> list[str]:
    through = nginx_through(fleet.run(running.main, "cat /var/log/nginx/access.log"))
    passed = sum(n for status, n in through.items() if status.startswith("2"))
    status = fleet.run(running.main, "curl -fsS http://127.0.0.1/nginx-status")
    return [expect_at_least(f"requests nginx passed through to the API and the API answered "
                            f"(upstream status {dict(sorted(through.items()))})", passed,
                            nominal(SHOPPER_RATE, fleet.held_s())),
            "stub_status: " + " ".join(status.split())]


def start_worker(fleet: Fleet) -> Running:
    worker = fleet.deploy(WorkloadSpec(role="order-worker", image=fleet.image(ORDER_WORKER), command=(),
                                       networks=("lan",),
                                       env={**client_env(fleet), "REDIS_HOST": fleet.fact("cache", "host")},
                                       labels={"app": "order-worker", "tier": "backend"}))
    return Running("order-worker", [worker])


def check_worker(fleet: Fleet, running: Running) -> list[str]:
    row = fleet.run(running.main, "psql -AtF' ' -c \"SELECT count(*) FILTER (WHERE status = 'fulfilled'), "
                                  "count(*) FILTER (WHERE status = 'pending' AND created_at < now() - "
                                  "interval '30 seconds') FROM orders\"").split()
    fulfilled, stuck = int(row[0]), int(row[1])
    if stuck:
        raise CheckFailed(f"{stuck} orders pending for more than 30 s ({fulfilled} fulfilled)")
    return [expect_at_least("orders taken off the Redis queue and fulfilled in PostgreSQL, none left waiting",
                            fulfilled, nominal(SHOPPER_RATE / 5, fleet.held_s()))]


def start_shoppers(fleet: Fleet) -> Running:
    box = fleet.deploy(WorkloadSpec(role="shoppers", image=fleet.image(LOADGEN), command=(), networks=("lan",),
                                    env={"STOREFRONT_URL": fleet.fact("web", "url"), "PAUSE_S": str(SHOPPER_PAUSE_S),
                                         "RUN_FOR_S": str(RUN_FOR_S)},
                                    labels={"app": "shoppers", "tier": "frontend"}))
    return Running("shoppers", [box])


def check_shoppers(fleet: Fleet, running: Running) -> list[str]:
    codes = status_counts(fleet.run(running.main, "cat /var/log/shoppers/requests.log"), field=3)
    ok, total = codes["200"] + codes["201"], sum(codes.values())
    if total and ok < 0.95 * total:
        raise CheckFailed(f"only {ok} of {total} requests succeeded: {dict(codes)}")
    orders = first_int(fleet.run(running.main, "grep -c ' POST /orders 201 ' /var/log/shoppers/requests.log || true"))
    return [expect_at_least(f"requests answered through nginx (statuses {dict(sorted(codes.items()))}), "
                            f"{orders} of them orders placed", ok, nominal(SHOPPER_RATE, fleet.held_s()))]


SERVICES = (
    Service("recommender", f"Python model server: loads a {MODEL_MB} MiB item-embedding table into memory before it "
                           "serves, holds it for its lifetime, answers similar-item lookups",
            start_recommender, check_recommender),
    Service("api", "Python storefront API: product pages cached in Redis (PostgreSQL behind), orders into PostgreSQL "
                   "and onto a Redis queue, recommendations from the recommender; JSON access log kept open",
            start_api, check_api, needs=("db", "cache", "recommender")),
    Service("web", "nginx reverse proxy in front of the API (config rendered from the environment by its "
                   "docker-entrypoint.sh), access log to a file and stdout", start_web, check_web, needs=("api",)),
    Service("order-worker", "Python worker: blocking pops of order ids off the Redis queue, fulfils each order in "
                            "one PostgreSQL transaction", start_worker, check_worker, needs=("db", "cache")),
    Service("shoppers", "curl clients browsing product pages through nginx, ordering every fifth visit, "
                        "1.5-2 requests a second", start_shoppers, check_shoppers, needs=("web", "order-worker")),
)
