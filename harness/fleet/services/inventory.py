"""Two Swarm services talking over their overlay: the warehouse inventory service and the store's
stock poller, which finds it by its service name (the orchestrator's DNS and virtual IP)."""

from __future__ import annotations

import json

from harness.fleet.checks import expect_at_least, nominal, poll_rounds
from harness.fleet.context import Fleet, Running
from harness.fleet.images import INVENTORY, STOCK_POLLER
from harness.fleet.registry import CheckFailed, Service
from lab import WorkloadSpec

POLL_EVERY_S = 2.0
SKUS_PER_ROUND = 5


def start_inventory(fleet: Fleet) -> Running:
    service = fleet.deploy(WorkloadSpec(role="inventory", image=fleet.image(INVENTORY), command=(), networks=("lan",),
                                        labels={"app": "inventory", "tier": "backend"}), backend="swarm")
    return Running("inventory", [service], facts={"url": f"http://{service.name}:8080"})


def check_inventory(fleet: Fleet, running: Running) -> list[str]:
    served = json.loads(fleet.run(running.main, "curl -fsS http://127.0.0.1:8080/healthz")).get("served", 0)
    return [expect_at_least("stock lookups served over the overlay", served,
                            nominal(SKUS_PER_ROUND / POLL_EVERY_S, fleet.held_s()))]


def start_poller(fleet: Fleet) -> Running:
    service = fleet.deploy(WorkloadSpec(role="stock-poller", image=fleet.image(STOCK_POLLER), command=(),
                                        networks=("lan",),
                                        env={"INVENTORY_URL": fleet.fact("inventory", "url"),
                                             "POLL_EVERY_S": str(POLL_EVERY_S)},
                                        labels={"app": "stock-poller", "tier": "backend"}), backend="swarm")
    return Running("stock-poller", [service])


def check_poller(fleet: Fleet, running: Running) -> list[str]:
    rounds, answered, failed = poll_rounds(fleet.run(running.main, "cat /var/lib/stock-poller/polls.log"))
    if failed > max(2, answered // 50):
        raise CheckFailed(f"{failed} of {answered + failed} lookups failed")
    return [expect_at_least(f"stock lookups answered by the inventory service in {rounds} rounds ({failed} failed)",
                            answered, nominal(SKUS_PER_ROUND / POLL_EVERY_S, fleet.held_s()))]


SERVICES = (
    Service("inventory", "Swarm service: Python HTTP API of stock levels on the run's internal overlay, stock "
                         "drifting as goods come and go", start_inventory, check_inventory, tags=("swarm",)),
    Service("stock-poller", f"Swarm service: reads {SKUS_PER_ROUND} hot SKUs from the inventory service by its "
                            f"service name every {POLL_EVERY_S:g} s over the overlay", start_poller, check_poller,
            needs=("inventory",), tags=("swarm",)),
)
