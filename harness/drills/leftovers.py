"""Count what a run left behind, by its run id: the drills' measure of loss (the target is 0 of each).

Engine objects are found by the run label; host iptables rules by the lab's ``stowaway:<run id>``
comment; tracefs instances by their ``stowaway-<run id>`` name; files under the run's lab-owned
host directory. NAT rules in container namespaces can only outlive their namespace's container, so
they are counted inside any of the run's containers that are left (Docker's own embedded-DNS rules,
present in every container on a user network, are not the lab's and are not counted).
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Any

from lab import IPTABLES_COMMENT_PREFIX, RUN_LABEL, TRACEFS_INSTANCE_PREFIX, LabPaths, RunRecord

TRACEFS_INSTANCES = Path("/sys/kernel/tracing/instances")
DOCKER_OWN_NAT = ("DOCKER_OUTPUT", "DOCKER_POSTROUTING")
TABLES = ("filter", "nat", "raw", "mangle")


def host_iptables_rules(run_id: str, dump: str | None = None) -> int:
    """Rules whose comment names this run, across the host's tables (``dump``: iptables-save text, for tests)."""
    if dump is None:
        # testinfra's view of the host (iptables -S per table), the same one the leftovers checks of
        # the harness and the pytest plugin assert on (harness/hoststate.py).
        from harness.hoststate import local_host

        host, parts = local_host(), []
        for table in TABLES:
            with contextlib.suppress(Exception):  # a table the kernel lacks holds nothing of ours
                parts += host.iptables.rules(table)
        dump = "\n".join(parts)
    tag = f"{IPTABLES_COMMENT_PREFIX}{run_id}"
    return sum(1 for line in dump.splitlines() if line.startswith("-A ") and tag in line)


def namespace_nat_rules(dump: str) -> int:
    """NAT rules in one container namespace's ``iptables-save -t nat`` that are not Docker's own."""
    return sum(1 for line in dump.splitlines() if line.startswith("-A ") and not any(c in line for c in DOCKER_OWN_NAT))


def tracefs_instances(run_id: str, root: Path = TRACEFS_INSTANCES) -> int:
    if not root.is_dir():
        return 0
    return sum(1 for p in root.iterdir() if p.name.startswith(f"{TRACEFS_INSTANCE_PREFIX}{run_id}"))


def host_files(paths: LabPaths, run_id: str) -> int:
    root = paths.host_root / run_id
    return sum(1 for _ in root.rglob("*")) + (1 if root.exists() else 0)


def run_status(paths: LabPaths, run_id: str) -> str:
    """The run record's status, ``missing`` when there is none, ``unreadable`` when it is half-written."""
    path = paths.runs / f"{run_id}.json"
    if not path.exists():
        return "missing"
    record = RunRecord.load(path)
    return record.status if record else "unreadable"


def count(client: Any, paths: LabPaths, run_id: str, tracefs_root: Path = TRACEFS_INSTANCES) -> dict[str, Any]:
    """Everything the run left, by kind; ``engine`` is False when the engine could not be asked."""
    out: dict[str, Any] = {"containers": 0, "networks": 0, "volumes": 0, "services": 0, "namespace_nat_rules": 0,
                           "engine": client is not None}
    flt = {"label": f"{RUN_LABEL}={run_id}"}
    if client is not None:
        try:
            containers = client.containers.list(all=True, filters=flt)
            out["containers"] = len(containers)
            out["networks"] = len(client.networks.list(filters=flt))
            out["volumes"] = len(client.volumes.list(filters=flt))
            with contextlib.suppress(Exception):
                if client.info().get("Swarm", {}).get("ControlAvailable"):
                    out["services"] = len(client.services.list(filters=flt))
            for container in containers:
                pid = (container.attrs.get("State") or {}).get("Pid") or 0
                if pid:
                    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                        dump = subprocess.run(["nsenter", "-t", str(pid), "-n", "iptables-save", "-t", "nat"],
                                              capture_output=True, text=True, timeout=20).stdout
                        out["namespace_nat_rules"] += namespace_nat_rules(dump)
        except Exception as exc:
            out["engine"] = False
            out["engine_error"] = f"{type(exc).__name__}: {exc}"
    out["host_iptables_rules"] = host_iptables_rules(run_id)
    out["tracefs_instances"] = tracefs_instances(run_id, tracefs_root)
    out["host_files"] = host_files(paths, run_id)
    out["run_record"] = run_status(paths, run_id)
    return out


LOSS_KEYS = ("containers", "networks", "volumes", "services", "namespace_nat_rules", "host_iptables_rules",
             "tracefs_instances", "host_files")


def total(counts: dict[str, Any]) -> int:
    return sum(int(counts.get(k, 0)) for k in LOSS_KEYS)
