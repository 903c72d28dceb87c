"""Overload drill: a burst of process execs in a lab container (target 5,000/s for 10 s) with the
detectors attached. Reported: how many execs really happened (the generator counts its own), how
many the exec sensor turned into events for that container, the tracefs ring buffer's overrun and
lost counters, and whether an exec from /tmp in the middle of the burst still raised its alert.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.bench.report import Figure, ratio
from lab import LabSession, Resources, WorkloadSpec, poll

Progress = Callable[[str], None]
RATE, SECONDS, WORKERS = 5000, 10, 4
# Each worker spawns /bin/true as fast as it can, paced to its share of RATE; all print their count.
GENERATOR = (
    "import os, sys, time\n"
    f"rate, seconds, workers = {RATE}, {SECONDS}, {WORKERS}\n"
    "kids = []\n"
    "for w in range(workers):\n"
    "    r, wfd = os.pipe()\n"
    "    if os.fork() == 0:\n"
    "        os.close(r); n = 0; start = time.time(); share = rate / workers\n"
    "        while time.time() - start < seconds:\n"
    "            if n < share * (time.time() - start):\n"
    "                pid = os.posix_spawn('/bin/true', ['true'], {}); os.waitpid(pid, 0); n += 1\n"
    "            else:\n"
    "                time.sleep(0.0005)\n"
    "        os.write(wfd, str(n).encode()); os._exit(0)\n"
    "    os.close(wfd); kids.append(r)\n"
    "total = sum(int(os.read(r, 64) or 0) for r in kids)\n"
    "print(total)\n"
)


class ExecCounter:
    """An observer on the monitor: counts the burst's exec events (of /bin/true) in one container."""

    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        self.execs = 0

    def observe(self, event: dict[str, Any]) -> None:
        if event.get("event.dataset") != "linux.process" or event.get("container.id") != self.container_id:
            return
        executable = str(event.get("process.executable") or "")
        if executable.endswith("/true") and "cache-helper" not in executable:
            self.execs += 1


def run(progress: Progress) -> list[Figure]:
    from harness.monitoring import build_monitor

    session = LabSession()
    monitor = None
    status = "aborted"
    try:
        session.up()
        monitor = build_monitor(session.engine, run_id=session.run_id)
        monitor.start()
        lab = session.scope("drill-overload")
        try:
            worker = lab.deploy(WorkloadSpec(role="worker", resources=Resources(cpus=2.0)))
            lab.exec(worker, "cp", "/bin/true", "/tmp/.cache-helper")
            cid = worker.container_ids[0] if worker.container_ids else worker.id
            counter = ExecCounter(cid)
            monitor._observers.append(counter)
            time.sleep(2)
            tracefs = next(s for s in monitor.sensors if s.name == "tracefs-exec")
            before = dict(tracefs.stats)
            lab.exec(worker, "sh", "-c", f"python3 -c \"{GENERATOR}\" > /tmp/burst.out", detach=True)
            time.sleep(SECONDS / 2)
            lab.action("run a program from /tmp in the middle of the burst")
            lab.exec(worker, "/tmp/.cache-helper")
            marked = lab.actions[0].at
            lab.wait_for(lambda: lab.exec(worker, "cat", "/tmp/burst.out", check=False).output.strip().isdigit(),
                         timeout=SECONDS * 6, what="the burst to finish")
            happened = int(lab.exec(worker, "cat", "/tmp/burst.out").output.strip())  # execs of /bin/true
            hits = poll(lambda: [a for a in monitor.alerts_for(lab.object_refs(), since=lab.started_at)
                          if a.rule_id == "stowaway.host.exec-from-temp-dir"], 30) or []
            time.sleep(3)  # let the sensor drain its ring buffer
            after = dict(tracefs.stats)
        finally:
            lab.unwind()
        status = "complete"
    finally:
        if monitor is not None:
            monitor.stop()
        session.down(status=status)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    seen = counter.execs
    latency = (min(a.raised_at for a in hits) - marked) if hits else None
    progress(f"drills: overload: {happened} execs, the sensor saw {seen}; overrun {delta.get('overrun')}, "
             f"alert {'fired' if hits else 'did not fire'}")
    detail = {"execs_happened": happened, "execs_seen": seen, "rate_achieved_per_s": round(happened / SECONDS),
              "rate_target_per_s": RATE, "sensor_stats_delta": delta, "alert_latency_s": latency}
    return [
        Figure("overload.exec-seen-share", f"exec events seen / execs that happened, burst of {RATE}/s for {SECONDS}s "
               "(reported; the burst rate reached is in the detail)", round(ratio(seen, happened), 4), None, unit="x",
               detail=detail),
        Figure("overload.alert-fired", "the exec-from-/tmp alert fired during the burst (0 = yes)",
               0 if hits else 1, 0, "<=", detail={"latency_s": latency}),
    ]
