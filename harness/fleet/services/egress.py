"""The sanctioned ways out: the platform's egress proxy, with the rates feed client that uses it,
and the offsite backup, which ships its archive to the vault on the lab internet on its schedule.
Both run the platform's own images (scenarios/docker/_platform.py) the way the twins run them."""

from __future__ import annotations

from harness.fleet.checks import expect_at_least, first_int, nominal, status_counts
from harness.fleet.context import RUN_FOR_S, Fleet, Running
from harness.fleet.images import RATES_SYNC
from harness.fleet.registry import CheckFailed, Service
from lab import LabError, WorkloadSpec
from scenarios.docker._platform import EGRESS_PROXY, VAULT_BACKUP

FEED_HOST = "rates.fxfeed.example"  # the provider's name; the proxy resolves it (its hosts entry)
SYNC_EVERY_S = 20
ARCHIVE_BYTES = 16_000_000
BACKUP_EVERY_S = 180
BACKUP_FIRST_AFTER_S = 20


def start_proxy(fleet: Fleet) -> Running:
    proxy = fleet.deploy(WorkloadSpec(
        role="egress-proxy", image=fleet.built(EGRESS_PROXY), command=(), networks=("lan", "inet"),
        extra_hosts={FEED_HOST: fleet.lab.sinkhole.address}, labels={"app": "egress-proxy", "tier": "infra"}))
    return Running("egress-proxy", [proxy], facts={"url": f"http://{proxy.name}:3128",
                                                   "outside": proxy.addresses.get("inet", "")})


def check_proxy(fleet: Fleet, running: Running) -> list[str]:
    outside = running.facts["outside"]
    received = [r for r in fleet.lab.sinkhole_records(peer=outside) if str(r.get("head", "")).startswith("GET")]
    return [expect_at_least(f"requests the proxy carried to the outside site (seen there from its address {outside})",
                            len(received), nominal(1 / SYNC_EVERY_S, fleet.held_s()))]


def start_rates(fleet: Fleet) -> Running:
    box = fleet.deploy(WorkloadSpec(
        role="rates-sync", image=fleet.image(RATES_SYNC), command=(), networks=("lan",),
        env={"FEED_URL": f"http://{FEED_HOST}/v2/latest.json", "http_proxy": fleet.fact("egress-proxy", "url"),
             "SYNC_EVERY_S": str(SYNC_EVERY_S), "RUN_FOR_S": str(RUN_FOR_S)},
        labels={"app": "rates-sync", "tier": "backend"}))
    return Running("rates-sync", [box])


def check_rates(fleet: Fleet, running: Running) -> list[str]:
    outcomes = status_counts(fleet.run(running.main, "cat /var/lib/rates/sync.log 2>/dev/null || true"), field=1)
    if outcomes["failed"]:
        raise CheckFailed(f"{outcomes['failed']} feed fetches failed ({outcomes['synced']} synced)")
    return [expect_at_least("feed fetches through the egress proxy", outcomes["synced"],
                            nominal(1 / SYNC_EVERY_S, fleet.held_s()))]


def start_backup(fleet: Fleet) -> Running:
    # The vault is the storage provider's, not the platform's: a plain receiver on the lab internet.
    vault = fleet.deploy(WorkloadSpec(role="vault", networks=("inet",),
                                      command=("sh", "-c", "mkdir -p /srv/vault && exec socat -u "
                                               "TCP-LISTEN:873,fork,reuseaddr OPEN:/srv/vault/archive,creat,append")))
    agent = fleet.deploy(WorkloadSpec(
        role="backup", image=fleet.built(VAULT_BACKUP), command=(), networks=("lan", "inet"),
        env={"VAULT_HOST": vault.addresses["inet"], "ARCHIVE_BYTES": str(ARCHIVE_BYTES)},
        labels={"app": "vault-backup", "tier": "infra"}))

    def schedule_fires() -> None:
        # The node's scheduler starts the job the way the agent expects: its trigger file.
        fleet.lab.exec(agent, "touch", "/run/backup/now")
    # Not in the last seconds: a run takes a few seconds, and the check wants it in the vault.
    fleet.every("backup schedule", BACKUP_EVERY_S, BACKUP_FIRST_AFTER_S, schedule_fires, last_ok_before_end_s=15)
    return Running("backup", [agent, vault])


def check_backup(fleet: Fleet, running: Running) -> list[str]:
    agent, vault = running.workloads
    fired = next((p.fired for p in fleet.periodic if p.what == "backup schedule"), 0)
    if fired == 0:
        raise CheckFailed("the backup schedule never fired (the soak was too short for its first run)")
    try:
        pending = fleet.run(agent, "test -e /run/backup/now && echo pending || echo idle").strip()
    except LabError as exc:
        raise CheckFailed(f"cannot read the agent's state: {exc}") from None
    stored = first_int(fleet.run(vault, "stat -c %s /srv/vault/archive 2>/dev/null || echo 0"))
    wanted = fired * ARCHIVE_BYTES if pending == "idle" else (fired - 1) * ARCHIVE_BYTES
    return [expect_at_least(f"bytes the vault stored from {fired} scheduled run(s) of {ARCHIVE_BYTES} bytes",
                            stored, wanted)]


SERVICES = (
    Service("egress-proxy", "the platform's forward proxy (platform/egress-proxy, run as built) on the LAN and the "
                            "lab internet: the sanctioned way out", start_proxy, check_proxy),
    Service("rates-sync", f"curl pulls a currency-rates feed from an outside provider through the egress proxy "
                          f"(http_proxy) every {SYNC_EVERY_S} s, with jitter", start_rates, check_rates,
            needs=("egress-proxy",)),
    Service("backup", f"the platform's backup agent (platform/vault-backup, run as built) streams a "
                      f"{ARCHIVE_BYTES // 1_000_000} MB archive to the offsite vault on the lab internet each time "
                      f"its schedule fires (every {BACKUP_EVERY_S} s)", start_backup, check_backup),
)
