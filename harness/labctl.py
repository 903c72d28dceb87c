"""`stowaway lab up|down|status` and `stowaway reap`: the lab's life outside a single run.

``lab up`` keeps the private engine (and the base image) warm between runs. The engine stops when
its last lease goes, so something must hold a lease while no run is going: ``lab up`` starts a
small detached holder process (``python -m harness.labctl --hold``) that acquires the lease
``lab-up`` with its own pid, builds the base image if needed, writes ``lab-up.json`` next to the
leases and then sleeps until SIGTERM. ``lab down`` sends that SIGTERM; the holder releases its
lease, and the engine stops if no run still holds one. A holder that died is a dead lease, which
the engine code already ignores, so a crash never pins the engine up.

A kept detonation (``stowaway detonate --keep``, harness/staged.py) has a holder of its own, which
holds its run's lease and keeps its run record live: ``lab down`` leaves the engine running for it,
``stowaway reap`` leaves its objects, and ``lab status`` lists it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from harness import staged_state
from lab import RUN_LABEL, LabPaths, RunRecord, poll, reap
from lab import engine as engine_mod

HOLDER_LEASE = "lab-up"
READY_TIMEOUT_S = 600.0  # the first base image build runs debootstrap: minutes on a slow mirror-less host


def state_file(paths: LabPaths) -> Path:
    return paths.runtime / "lab-up.json"


def holder_log(paths: LabPaths) -> Path:
    return paths.state / "log" / "lab-up.log"


@dataclass(slots=True)
class HolderState:
    pid: int
    lease: str
    started_at: float
    engine: str
    image: str

    @classmethod
    def read(cls, paths: LabPaths) -> HolderState | None:
        try:
            data = json.loads(state_file(paths).read_text())
            state = cls(**data)
        except (OSError, ValueError, TypeError):
            return None
        return state if engine_mod._pid_alive(state.pid) else None


# --- the holder process ---------------------------------------------------------------------------


def hold(paths: LabPaths | None = None) -> int:
    """Run as the detached holder: lease, image, state file, then wait for SIGTERM/SIGINT."""
    paths = paths or LabPaths.default()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    from lab import ensure_base_image

    engine = engine_mod.acquire(HOLDER_LEASE, paths=paths)
    try:
        image = ensure_base_image(engine)
        state = HolderState(pid=os.getpid(), lease=HOLDER_LEASE, started_at=time.time(), engine=engine.base_url,
                            image=image)
        tmp = state_file(paths).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state)))
        os.replace(tmp, state_file(paths))
        print(f"holding the lab engine {engine.base_url} (pid {os.getpid()})", flush=True)
        while not stop.wait(5.0):
            pass
    finally:
        state_file(paths).unlink(missing_ok=True)
        stopped = engine_mod.release(engine, HOLDER_LEASE)
        print(f"released the lease; engine {'stopped' if stopped else 'left running for other leases'}", flush=True)
    return 0


# --- the commands ---------------------------------------------------------------------------------


def up(paths: LabPaths, out: TextIO, progress: Any) -> int:
    running = HolderState.read(paths)
    if running is not None:
        print(f"the lab is already up: engine {running.engine}, holder pid {running.pid}", file=out)
        return 0
    paths.ensure()
    log = holder_log(paths)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        # A new session: the holder must outlive this command and the terminal it ran in.
        process = subprocess.Popen([sys.executable, "-m", "harness.labctl", "--hold"], stdout=handle,
                                   stderr=handle, stdin=subprocess.DEVNULL, start_new_session=True,
                                   cwd=str(Path(__file__).resolve().parent.parent))
    progress(f"lab: waiting for the private engine and the base image (holder pid {process.pid}; "
             f"the first build takes about a minute)")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        state = HolderState.read(paths)
        if state is not None and state.pid == process.pid:
            print(f"lab up: engine {state.engine}, image {state.image}, holder pid {state.pid} "
                  f"(stop it with `stowaway lab down`)", file=out)
            return 0
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            print(f"error: the lab holder exited with {process.returncode}; its log ({log}) ends:\n{tail}",
                  file=sys.stderr)
            return 1
        time.sleep(0.3)
    process.terminate()
    print(f"error: the lab did not come up within {READY_TIMEOUT_S:.0f}s; see {log}", file=sys.stderr)
    return 1


def down(paths: LabPaths, out: TextIO, progress: Any, timeout: float = 60.0) -> int:
    state = HolderState.read(paths)
    if state is None:
        state_file(paths).unlink(missing_ok=True)  # a stale file from a holder that died
        print("the lab is not up (no live `lab up` holder); runs still hold their own leases", file=out)
        return 0
    progress(f"lab: stopping the holder (pid {state.pid}); it releases its engine lease")
    with contextlib.suppress(ProcessLookupError):
        os.kill(state.pid, signal.SIGTERM)
    if not poll(lambda: not engine_mod._pid_alive(state.pid), timeout):
        print(f"error: the holder (pid {state.pid}) did not stop within {timeout:.0f}s", file=sys.stderr)
        return 1
    others = engine_mod.live_leases(paths)
    engine_state = "still running for " + ", ".join(p.name for p in others) if others else "stopped"
    print(f"lab down: holder gone, engine {engine_state}", file=out)
    for record in staged_state.every(paths):
        if record.holder_alive:
            print(f"kept detonation {record.detonation_id} (run {record.run_id}) still holds the engine: "
                  f"`stowaway revert {record.scenario_id}` releases it", file=out)
    return 0


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:100]


def status(paths: LabPaths, out: TextIO, docker_host: str | None = None) -> int:
    """Engine, leases, runs and lab objects. Talks to the engine only while holding a lease on it."""
    holder = HolderState.read(paths)
    leases = engine_mod.live_leases(paths)
    url = docker_host or os.environ.get("DOCKER_HOST") or f"unix://{paths.engine_socket}"
    print(f"engine:  {url}", file=out)
    client = engine_mod._ping(url, timeout=2)
    if client is None:
        print("         not running (the first run or `stowaway lab up` starts it)", file=out)
    held = f"holder pid {holder.pid} since {_ago(holder.started_at)}" if holder else "no"
    print(f"lab up:  {held}", file=out)
    print(f"leases:  {len(leases)}", file=out)
    for lease in leases:
        pid = int(lease.read_text().strip() or 0)
        print(f"         {lease.name}  pid {pid}  {_cmdline(pid)}", file=out)
    records = [r for r in (RunRecord.load(p) for p in paths.runs.glob("*.json")) if r is not None]
    running = [r for r in records if r.status == "running" and engine_mod._pid_alive(r.pid)]
    recent = sorted((r for r in records if r not in running), key=lambda r: r.started_at)[-5:]
    print(f"runs:    {len(running)} running", file=out)
    for record in running:
        print(f"         {record.run_id}  pid {record.pid}  started {_ago(record.started_at)}", file=out)
    for record in recent:
        notes = f"  ({'; '.join(record.notes)})" if record.notes else ""
        print(f"         {record.run_id}  {record.status}{notes}", file=out)
    kept = _print_kept(paths, out)
    if client is None:
        return 0
    status_lease = f"status-{os.getpid()}"
    engine = engine_mod.acquire(status_lease, docker_host, paths) if not docker_host else None
    try:
        use = engine.client if engine else client
        objects: Counter[tuple[str, str]] = Counter()
        for kind, items in (("containers", use.containers.list(all=True, filters={"label": RUN_LABEL}, sparse=True)),
                            ("networks", use.networks.list(filters={"label": RUN_LABEL})),
                            ("volumes", use.volumes.list(filters={"label": RUN_LABEL}))):
            for item in items:
                objects[(item.attrs.get("Labels") or item.attrs.get("Config", {}).get("Labels") or {}).get(
                    RUN_LABEL, "?"), kind] += 1
        version = use.version().get("Version", "?")
        print(f"objects: engine {version}; {sum(objects.values())} lab object(s)", file=out)
        live = {r.run_id for r in running}
        for run_id in sorted({run for run, _ in objects}):
            counts = ", ".join(f"{objects[(run_id, k)]} {k}" for k in ("containers", "networks", "volumes")
                               if objects[(run_id, k)])
            print(f"         {run_id}: {counts}{_object_tag(run_id, live, kept)}", file=out)
    finally:
        if engine is not None:
            engine_mod.release(engine, status_lease)
    return 0


def _object_tag(run_id: str, live: set[str], kept: dict[str, staged_state.KeptDetonation]) -> str:
    if run_id not in live:
        return "  <- dead run: `stowaway reap` removes it"
    if run_id in kept:
        return f"  <- kept detonation of {kept[run_id].detonation_id}: `stowaway revert {kept[run_id].scenario_id}`"
    return ""


def _print_kept(paths: LabPaths, out: TextIO) -> dict[str, staged_state.KeptDetonation]:
    """Kept detonations (`stowaway detonate --keep`): a live holder keeps its run live, so the reaper
    and `lab down` leave it; one whose holder is gone is a dead run's leftovers. Returns them by run id."""
    records = staged_state.every(paths)
    print(f"kept:    {len(records)} detonation(s)", file=out)
    for record in records:
        if record.holder_alive:
            state = f"holder pid {record.holder_pid}, {record.status} since {_ago(record.kept_at or record.started_at)}"
        else:
            state = f"holder gone ({record.status}): what is left is a dead run's, which the reaper removes"
        print(f"         {record.detonation_id}  run {record.run_id or '-'}  {state}  "
              f"(`stowaway revert {record.scenario_id}`)", file=out)
    return {r.run_id: r for r in records if r.run_id}


def reap_dead(paths: LabPaths, out: TextIO, docker_host: str | None = None) -> int:
    """Remove what dead runs left; live runs (and `lab up`) are never touched."""
    lease = f"reap-{os.getpid()}"
    engine = engine_mod.acquire(lease, docker_host, paths)
    try:
        report = reap(engine.client, paths)
    finally:
        engine_mod.release(engine, lease)
    print(f"reaped: {report.containers} container(s), {report.services} service(s), {report.networks} network(s), "
          f"{report.volumes} volume(s), {report.iptables_rules} iptables rule(s), "
          f"{report.tracefs_instances} tracefs instance(s)", file=out)
    if report.runs_marked_aborted:
        print(f"runs marked aborted: {', '.join(report.runs_marked_aborted)}", file=out)
    # A run graded on auditd (--alerts-from auditd) that died leaves its daemon registered with the
    # kernel and its rules loaded; the directory's lock tells a live run's from a dead one's.
    from harness.external.auditd import reap_auditd

    for line in reap_auditd(paths.runtime / "auditd"):
        print(f"auditd: {line}", file=out)
    kept = [r for r in staged_state.every(paths) if r.holder_alive]
    if kept:
        print(f"left alone: {len(kept)} kept detonation(s), live on purpose: "
              + ", ".join(f"{r.detonation_id} (run {r.run_id})" for r in kept)
              + "; `stowaway revert ID` removes one", file=out)
    return 0


def _ago(epoch: float) -> str:
    seconds = max(0, int(time.time() - epoch))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


if __name__ == "__main__":
    if sys.argv[1:] == ["--hold"]:
        sys.exit(hold())
    print("usage: python -m harness.labctl --hold (started by `stowaway lab up`)", file=sys.stderr)
    sys.exit(2)
