"""Scheduled jobs: cron runs the order rollup every minute (psql and redis-cli) and logrotate every
minute, which rotates the API's access log (copytruncate, through the shared log volume) and the
rollup's own log (create)."""

from __future__ import annotations

import time

from harness.fleet.checks import expect_at_least, logrotate_state
from harness.fleet.context import Fleet, Running
from harness.fleet.images import ORDER_REPORTS
from harness.fleet.registry import CheckFailed, Service
from harness.fleet.services.data import client_env
from harness.fleet.services.storefront import LOG_VOLUME_FACT
from lab import Mount, WorkloadSpec

ACCESS_LOG = "/var/log/storefront/access.log"
ROLLUP_LOG = "/var/log/reports/rollup.log"
ROTATION_AFTER_S = 180  # by then both logs have outgrown their sizes at least once


def start_reports(fleet: Fleet) -> Running:
    box = fleet.deploy(WorkloadSpec(
        role="order-reports", image=fleet.image(ORDER_REPORTS), command=(), networks=("lan",),
        env={**client_env(fleet), "REDIS_HOST": fleet.fact("cache", "host")},
        mounts=(Mount(source=fleet.fact("api", LOG_VOLUME_FACT), target="/var/log/storefront", type="volume"),),
        labels={"app": "order-reports", "tier": "batch"}))
    return Running("order-reports", [box])


def check_reports(fleet: Fleet, running: Running) -> list[str]:
    # The job counts its runs in Redis (reports:rollups); its log cannot be counted: logrotate keeps
    # only five generations of it, and after a quarter of an hour the oldest runs are gone.
    rollups = fleet.run(running.main, '. /run/reports.env && redis-cli -h "$REDIS_HOST" GET reports:rollups || true')
    runs = int(rollups.strip()) if rollups.strip().isdigit() else 0
    # cron fires at the top of each minute: every minute boundary since the container started.
    boundaries = int(time.time() // 60) - int(running.started_at // 60)
    lines = [expect_at_least(f"order rollups cron ran in {boundaries} minute boundaries", runs, max(1, boundaries - 1))]
    state = logrotate_state(fleet.run(running.main, "cat /var/lib/logrotate/status 2>/dev/null || true"))
    missing = [log for log in (ACCESS_LOG, ROLLUP_LOG) if log not in state]
    if missing:
        raise CheckFailed(f"logrotate never looked at {', '.join(missing)} (its state file has {sorted(state)})")
    generations = fleet.run(running.main, f"ls -1 {ACCESS_LOG}.* {ROLLUP_LOG}.* 2>/dev/null || true").split()
    copied = sorted(g for g in generations if g.startswith(ACCESS_LOG))
    created = sorted(g for g in generations if g.startswith(ROLLUP_LOG))
    lines.append(f"logrotate ran every minute; generations: {', '.join(copied + created) or 'none yet'}")
    if fleet.held_s() >= ROTATION_AFTER_S and not (copied and created):
        raise CheckFailed(f"after {fleet.held_s():.0f} s logrotate had not rotated both logs: {generations}")
    if copied:
        # copytruncate: the API kept writing into the same, truncated file.
        size = int(fleet.run(running.main, f"stat -c %s {ACCESS_LOG}").strip() or 0)
        lines.append(f"access log rotated with copytruncate ({len(copied)} generation(s)); the API kept writing: "
                     f"{size} bytes since")
    if created:
        mode = fleet.run(running.main, f"stat -c '%a %U:%G' {ROLLUP_LOG} 2>/dev/null || echo absent").strip()
        lines.append(f"rollup log rotated with create ({len(created)} generation(s)); new file {mode}")
    return lines


SERVICES = (
    Service("order-reports", "cron in the foreground (its docker-entrypoint.sh keeps the job settings cron "
                             "would drop): the order rollup every minute with psql and redis-cli, logrotate every "
                             "minute (copytruncate of the API's log on a shared volume, create for the rollup log)",
            start_reports, check_reports, needs=("api", "cache")),
)
