"""Run bookkeeping: the neutral run label, run records, and the reaper for dead runs.

Every object the lab creates carries ``RUN_LABEL=<run id>``. The label is neutral: it says which run
made an object, never what the object is for. Sensors strip it before detectors see anything.

A run record (``runs/<run id>.json``) holds the owning pid and a status. Records are replaced
atomically (write to a temporary file, then rename), so a killed run leaves a whole record that the
reaper marks ``aborted``, never a half-written one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from lab.naming import (  # noqa: F401  (re-exported: the harness reads them from here)
    IPTABLES_COMMENT_PREFIX,
    RUN_LABEL,
    TRACEFS_INSTANCE_PREFIX,
    run_of_tracefs_instance,
)
from lab.paths import LabPaths


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


@dataclass(slots=True)
class RunRecord:
    run_id: str
    pid: int
    started_at: float
    status: str = "running"  # running | complete | failed | aborted
    finished_at: float | None = None
    notes: list[str] = field(default_factory=list)

    def save(self, paths: LabPaths) -> None:
        paths.runs.mkdir(parents=True, exist_ok=True)
        _write_atomic(paths.runs / f"{self.run_id}.json", {
            "run_id": self.run_id, "pid": self.pid, "started_at": self.started_at, "status": self.status,
            "finished_at": self.finished_at, "notes": self.notes,
        })

    @classmethod
    def load(cls, path: Path) -> RunRecord | None:
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def live_run_ids(paths: LabPaths) -> set[str]:
    live = set()
    for path in paths.runs.glob("*.json"):
        record = RunRecord.load(path)
        if record and record.status == "running" and _alive(record.pid):
            live.add(record.run_id)
    return live


@dataclass(slots=True)
class ReapReport:
    containers: int = 0
    services: int = 0
    networks: int = 0
    volumes: int = 0
    iptables_rules: int = 0
    tracefs_instances: int = 0
    host_dirs: int = 0
    node_labels: int = 0  # changes to the Swarm node's labels a dead run made, undone
    containments: int = 0  # containers a dead run contained (quarantine, pause) and never released, released
    runs_marked_aborted: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.containers + self.services + self.networks + self.volumes + self.iptables_rules + \
            self.tracefs_instances + self.host_dirs + self.node_labels + self.containments


def _run_of(labels: dict[str, str] | None) -> str | None:
    return (labels or {}).get(RUN_LABEL)


def _label_filter(only: set[str] | None) -> str:
    """Ask the engine for one run's objects when reaping a single run; for all labelled ones otherwise."""
    return f"{RUN_LABEL}={next(iter(only))}" if only and len(only) == 1 else RUN_LABEL


def reap(client: Any, paths: LabPaths, keep: set[str] | None = None, only: set[str] | None = None) -> ReapReport:
    """Remove what runs left behind.

    ``keep``: run ids never touched (the caller's own). ``only``: reap just these run ids (teardown
    of one run); when None, every run that is not alive is reaped (start-up and `stowaway reap`).
    """
    keep = (keep or set()) | (live_run_ids(paths) if only is None else set())
    report = ReapReport()

    def doomed(run: str | None) -> bool:
        if run is None or run in keep:
            return False
        return only is None or run in only

    if client is not None:
        with contextlib.suppress(docker.errors.APIError):
            if client.info().get("Swarm", {}).get("ControlAvailable"):
                for service in client.services.list(filters={"label": RUN_LABEL}):
                    if doomed(_run_of(service.attrs["Spec"].get("Labels"))):
                        with contextlib.suppress(docker.errors.APIError):
                            service.remove()
                            report.services += 1
        # Sparse: a full list inspects every container, and another run removing one of its own
        # between the list and the inspect would raise NotFound here (parallel runs do exactly that).
        for container in client.containers.list(all=True, filters={"label": _label_filter(only)}, sparse=True):
            if doomed(_run_of(container.attrs.get("Labels"))):
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True, v=True)
                    report.containers += 1
        report.containers += _reap_kind_nodes(client, paths, doomed)
        from lab import journal, quarantine  # they import this module's neighbours, not it at import time

        for run in journal.journalled_runs(paths):
            if doomed(run):
                # The run's own containers are gone by now; a container it did not make, still held in
                # its quarantine network or frozen, is given back before that network is removed.
                report.containments += quarantine.release_journalled(client, journal.entries(paths, run))
                report.node_labels += journal.undo(client, paths, run)
        for network in client.networks.list(filters={"label": _label_filter(only)}):
            if doomed(_run_of(network.attrs.get("Labels"))):
                with contextlib.suppress(docker.errors.APIError):
                    network.remove()
                    report.networks += 1
        for volume in client.volumes.list(filters={"label": _label_filter(only)}):
            if doomed(_run_of(volume.attrs.get("Labels"))):
                with contextlib.suppress(docker.errors.APIError):
                    volume.remove(force=True)
                    report.volumes += 1
        with contextlib.suppress(docker.errors.APIError):
            # The platform's network inventory forgets networks that no longer exist (a killed run
            # never withdrew its own).
            from lab import platform_networks

            platform_networks.prune(paths, {n["Id"] for n in client.api.networks()})
    report.iptables_rules = reap_iptables(doomed) + reap_orphaned_bridge_rules()
    report.tracefs_instances = reap_tracefs(doomed)
    for path in paths.runs.glob("*.json"):
        record = RunRecord.load(path)
        if record and record.status == "running" and doomed(record.run_id) and not _alive(record.pid):
            record.status = "aborted"
            record.finished_at = time.time()
            record.notes.append("marked aborted by the reaper: its process was gone")
            record.save(paths)
            report.runs_marked_aborted.append(record.run_id)
    report.host_dirs = reap_host_dirs(paths, doomed)
    for socket in (paths.runtime / "watch").glob("*.sock"):  # a killed `stowaway watch`'s control socket
        if doomed(socket.stem):
            socket.unlink(missing_ok=True)
    return report


def reap_host_dirs(paths: LabPaths, doomed: Any) -> int:
    """Remove the lab-owned host directories (markers, stand-in system files) of doomed runs.

    A killed run never reaches its own teardown's rmtree; without this its files stayed for good
    (found by the SIGKILL drill).
    """
    removed = 0
    if not paths.host_root.is_dir():
        return 0
    for run_dir in paths.host_root.iterdir():
        if run_dir.is_dir() and doomed(run_dir.name):
            shutil.rmtree(run_dir, ignore_errors=True)
            removed += not run_dir.exists()
    return removed


KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster"


def _reap_kind_nodes(client: Any, paths: LabPaths, doomed: Any) -> int:
    """kind creates its node containers itself, with kind's own label and no room for ours; the
    cluster is named ``stw-<last six of the run id>``, which ties a node back to its run."""
    runs_by_suffix = {path.stem[-6:]: path.stem for path in paths.runs.glob("*.json")}
    removed = 0
    for container in client.containers.list(all=True, filters={"label": KIND_CLUSTER_LABEL}, sparse=True):
        cluster = (container.attrs.get("Labels") or {}).get(KIND_CLUSTER_LABEL, "")
        run = runs_by_suffix.get(cluster.removeprefix("stw-")) if cluster.startswith("stw-") else None
        if run is not None and doomed(run):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
                removed += 1
    return removed


def reap_iptables(doomed: Any) -> int:
    """Delete host iptables rules whose comment names a doomed run (the lab's containment guards)."""
    removed = 0
    for table in ("filter", "nat", "raw", "mangle"):
        try:
            dump = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            return removed
        for line in dump.splitlines():
            if not line.startswith("-A ") or IPTABLES_COMMENT_PREFIX not in line:
                continue
            run = line.split(IPTABLES_COMMENT_PREFIX, 1)[1].split()[0].strip('"')
            if doomed(run):
                rule = line[3:].split()
                result = subprocess.run(["iptables", "-t", table, "-D", *_unquote(rule)], capture_output=True)
                removed += result.returncode == 0
    return removed


# A lab bridge as the engine names it (``stw-<run suffix>-<role>``), in a rule the engine wrote itself.
_LAB_BRIDGE_RULE = re.compile(r"-[io] (stw-[0-9a-f]{6}-[a-z0-9-]+)\b")


def reap_orphaned_bridge_rules() -> int:
    """Delete filter rules that name a lab bridge which no longer exists.

    The engine writes its own rules for the lab's internal networks (``-A FORWARD -i stw-..-lan -o
    stw-..-lan -j ACCEPT``) and removes them with the network; an engine killed with its networks
    still up leaves them behind (found after an interrupted drills run). A rule for an interface
    that is gone matches nothing, and one whose bridge exists belongs to a live run: only the
    first kind is touched."""
    try:
        dump = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    removed = 0
    for line in dump.splitlines():
        names = _LAB_BRIDGE_RULE.findall(line) if line.startswith("-A ") else []
        if names and not any(os.path.exists(f"/sys/class/net/{name}") for name in names):
            result = subprocess.run(["iptables", "-t", "filter", "-D", *_unquote(line[3:].split())],
                                    capture_output=True)
            removed += result.returncode == 0
    return removed


def _unquote(tokens: list[str]) -> list[str]:
    # iptables-save quotes comments with spaces; the lab's comments have none, so quotes just go.
    return [token.strip('"') for token in tokens]


def reap_tracefs(doomed: Any) -> int:
    removed = 0
    instances = Path("/sys/kernel/tracing/instances")
    if not instances.is_dir():
        return 0
    for inst in instances.iterdir():
        run = run_of_tracefs_instance(inst.name)
        if run is not None and doomed(run):
            with contextlib.suppress(OSError):
                inst.rmdir()
                removed += 1
    return removed
