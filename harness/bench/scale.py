"""Scale figures on the live engine: sensor CPU with 50 idle containers, and 500 containers sampled at 1 Hz.

Idle containers are the base image running ``sleep infinity`` with a small memory limit, deployed
through a ``Lab`` scope (so they carry the run label and the scope's cleanup removes them, and the
run's teardown reaps any the scope missed). The detectors run in a process of their own
(``stowaway watch``, or the bare sampler), so psutil's CPU time of that process is theirs alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import psutil

from harness.bench.report import Figure
from lab import RUN_LABEL, Lab, LabSession, Resources, WorkloadSpec, live_leases

Progress = Callable[[str], None]
# No network: a lab network is a /24, so 500 containers on it run out of addresses after ~250
# (seen in a real bench run); idle containers need no network to be sampled.
IDLE = WorkloadSpec(role="idle", network_mode="none", resources=Resources(memory_bytes=16 * 1024 * 1024))


def deploy_idle(lab: Lab, count: int, workers: int = 8) -> int:
    """Deploy ``count`` idle containers; returns how many came up (failures are left to the count)."""
    def one(_: int) -> bool:
        try:
            lab.deploy(IDLE)
            return True
        except Exception:
            return False

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(one, range(count)))


def other_leases(session: LabSession) -> list[str]:
    """Live leases on the shared engine that are not this run's (other people's runs)."""
    return sorted(p.name for p in live_leases(session.paths) if p.name != session.run_id)


def sensor_overhead(session: LabSession, progress: Progress, containers: int = 50, seconds: float = 60,
                    warmup_s: float = 15) -> Figure:
    lab = session.scope("bench-idle50")
    try:
        started = deploy_idle(lab, containers)
        progress(f"bench: {started} idle containers up; watching the detectors' CPU for {seconds:.0f}s")
        watch = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "watch", "--duration", str(warmup_s + seconds + 30)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            proc = psutil.Process(watch.pid)
            time.sleep(warmup_s)  # imports, rule loading, the container listing, tracefs set-up
            others = other_leases(session)
            cpu0, wall0 = sum(proc.cpu_times()[:4]), time.monotonic()
            threads0 = {t.id: t.user_time + t.system_time for t in proc.threads()}
            time.sleep(seconds)
            cpu1, wall1 = sum(proc.cpu_times()[:4]), time.monotonic()
            threads1 = {t.id: t.user_time + t.system_time for t in proc.threads()}
            rss = proc.memory_info().rss
        finally:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                os.killpg(watch.pid, signal.SIGINT)
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                watch.wait(timeout=30)
        busiest = sorted(((threads1[t] - threads0.get(t, 0.0), _comm(watch.pid, t)) for t in threads1), reverse=True)
        share = (cpu1 - cpu0) / (wall1 - wall0)
        return Figure("sensors.cpu-50-idle", f"CPU of all sensors and the engine (`stowaway watch` process) with "
                      f"{started} idle lab containers, over {seconds:.0f}s", round(share * 100, 2), 5.0, "<=",
                      "% of one core",
                      detail={"containers": started, "seconds": round(wall1 - wall0, 1), "cpu_s": round(cpu1 - cpu0, 3),
                              "rss_bytes": rss, "busiest_threads": [(round(c, 3), n) for c, n in busiest[:6]],
                              "other_live_runs": others,
                              "note": "the exec and TCP tracepoint sensors see every process on the host, so other "
                                      "runs sharing the machine add to this figure"})
    finally:
        for failure in lab.unwind():
            progress(f"bench: cleanup failed: {failure}")


def _comm(pid: int, tid: int) -> str:
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return "?"


def sampler_scale(session: LabSession, progress: Progress, containers: int = 500, seconds: float = 60) -> list[Figure]:
    others = other_leases(session)
    names = ("sampler.cpu-500", "sampler.missed-500")
    if others:
        why = f"other runs hold the shared engine ({', '.join(others)}); 500 containers would disturb them"
        return [Figure(names[0], "resource sampler CPU, 500 containers at 1 Hz", None, 10.0, unit="% of one core",
                       skipped=why),
                Figure(names[1], "missed samples, 500 containers at 1 Hz", None, 0.0, skipped=why)]
    lab = session.scope("bench-idle500")
    try:
        t0 = time.monotonic()
        started = deploy_idle(lab, containers)
        progress(f"bench: {started} idle containers up in {time.monotonic() - t0:.0f}s; sampling for {seconds:.0f}s")
        out = subprocess.run(
            [sys.executable, "-m", "harness.bench.sampler", "--docker-host", session.engine.base_url,
             "--seconds", str(seconds), "--label", f"{RUN_LABEL}={session.run_id}"],
            capture_output=True, timeout=seconds + 300, check=True)
        result = orjson.loads(out.stdout.splitlines()[-1])
        detail = {**result, "deployed": started, "requested": containers}
        return [Figure(names[0], f"resource sampler CPU (own process), {started} containers at 1 Hz",
                       round(result["cpu_share_of_core"] * 100, 2), 10.0, "<=", "% of one core", detail=detail),
                Figure(names[1], f"missed samples, {started} containers x {result['intervals'] - 1} intervals",
                       result["missed"], 0.0, "<=", "samples", detail={"samples": result["samples"]})]
    finally:
        t0 = time.monotonic()
        failures = lab.unwind()
        progress(f"bench: removed the idle containers in {time.monotonic() - t0:.0f}s ({len(failures)} failures)")
