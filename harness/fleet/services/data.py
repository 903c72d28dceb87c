"""The data tier: PostgreSQL (through the official images' docker-entrypoint.sh pattern), Redis,
and the ledger's steady transaction load from pgbench."""

from __future__ import annotations

import secrets

from harness.fleet.checks import expect_at_least, first_int, nominal, redis_info
from harness.fleet.context import RUN_FOR_S, Fleet, Running
from harness.fleet.images import LEDGER_WRITER, POSTGRES, REDIS
from harness.fleet.registry import CheckFailed, Service
from lab import WorkloadSpec

DB_USER = "storefront"
DB_NAME = "storefront"
LEDGER_TPS = 4


def client_env(fleet: Fleet, database: str = DB_NAME) -> dict[str, str]:
    """libpq's own variables, as every client of the database is configured."""
    return {"PGHOST": fleet.fact("db", "host"), "PGUSER": DB_USER, "PGPASSWORD": fleet.fact("db", "password"),
            "PGDATABASE": database, "PGCONNECT_TIMEOUT": "5"}


def start_db(fleet: Fleet) -> Running:
    password = secrets.token_urlsafe(18)
    db = fleet.deploy(WorkloadSpec(
        role="db", image=fleet.image(POSTGRES), command=(), networks=("lan",),
        env={"POSTGRES_USER": DB_USER, "POSTGRES_PASSWORD": password, "POSTGRES_DB": DB_NAME},
        labels={"app": "db", "tier": "data"}))
    return Running("db", [db], facts={"host": db.name, "password": password})


def check_db(fleet: Fleet, running: Running) -> list[str]:
    rows = fleet.run(running.main, f"psql -U {DB_USER} -d {DB_NAME} -AtF' ' -c \"SELECT datname, xact_commit, "
                                   "tup_inserted FROM pg_stat_database WHERE datname IN ('storefront', 'ledger') "
                                   "ORDER BY datname\"")
    found = {parts[0]: (int(parts[1]), int(parts[2])) for parts in (line.split() for line in rows.splitlines())
             if len(parts) == 3}
    if set(found) != {"ledger", "storefront"}:
        raise CheckFailed(f"expected the storefront and ledger databases, found {sorted(found)}")
    return [expect_at_least(f"{name}: transactions committed (pg_stat_database), {inserted} rows inserted",
                            commits, nominal(1.0, fleet.held_s()))
            for name, (commits, inserted) in sorted(found.items())]


def start_cache(fleet: Fleet) -> Running:
    cache = fleet.deploy(WorkloadSpec(role="cache", image=fleet.image(REDIS), command=(), networks=("lan",),
                                      labels={"app": "cache", "tier": "data"}))
    return Running("cache", [cache], facts={"host": cache.name})


def check_cache(fleet: Fleet, running: Running) -> list[str]:
    info = redis_info(fleet.run(running.main, "redis-cli INFO"))
    try:
        commands, hits, misses = (int(info[k]) for k in ("total_commands_processed", "keyspace_hits",
                                                        "keyspace_misses"))
    except (KeyError, ValueError) as exc:
        raise CheckFailed(f"redis INFO lacks {exc}") from None
    return [expect_at_least("commands processed (INFO stats)", commands, nominal(2.0, fleet.held_s())),
            expect_at_least(f"product lookups answered from the cache ({misses} misses)", hits,
                            nominal(0.5, fleet.held_s())),
            f"clients connected now: {info.get('connected_clients', '?')}, "
            f"memory used: {info.get('used_memory_human', '?')}"]


def start_ledger(fleet: Fleet) -> Running:
    ledger = fleet.deploy(WorkloadSpec(
        role="ledger", image=fleet.image(LEDGER_WRITER), command=(), networks=("lan",),
        env={**client_env(fleet, "ledger"), "LEDGER_TPS": str(LEDGER_TPS), "LEDGER_CLIENTS": "2",
             "RUN_FOR_S": str(RUN_FOR_S)},
        labels={"app": "ledger", "tier": "backend"}))
    return Running("ledger", [ledger])


def check_ledger(fleet: Fleet, running: Running) -> list[str]:
    # pgbench's TPC-B-like transaction appends one history row as its last statement.
    history = first_int(fleet.run(running.main, "psql -Atc 'SELECT count(*) FROM pgbench_history'"))
    return [expect_at_least(f"pgbench committed ledger transactions at {LEDGER_TPS}/s (pgbench_history rows)",
                            history, nominal(LEDGER_TPS, fleet.held_s()))]


SERVICES = (
    Service("db", "PostgreSQL 15 started by a #!/bin/sh docker-entrypoint.sh that initialises the cluster from "
                  "POSTGRES_* variables and execs the server; the storefront's and the ledger's databases",
            start_db, check_db),
    Service("cache", "Redis started by a #!/bin/sh docker-entrypoint.sh (the official image's pattern): the "
                     "storefront's product cache and order queue", start_cache, check_cache),
    Service("ledger", f"pgbench posts the ledger's TPC-B-like transactions at {LEDGER_TPS}/s from 2 clients, "
                      "in one-minute runs", start_ledger, check_ledger, needs=("db",)),
)
