"""`stowaway watch`: the embedded detectors as a monitoring tool, with no scenario running.

Sensors, policy enrichment, Sigma rules and analytics run against a live engine, and every alert
goes to stdout as one JSON line (stderr carries status), so the stream pipes into jq, a file, or a
log shipper. It stops on SIGINT, SIGTERM or after ``duration`` seconds. On the private engine it
holds its own lease, so the engine stays up while it watches and no run's teardown stops it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from detectors.alert import Alert
from harness.monitoring import build_monitor
from lab import LabPaths, RunRecord, new_run_id
from lab import engine as engine_mod


def watch(rule_dirs: Sequence[Path] = (), policy_dirs: Sequence[Path] = (), docker_host: str | None = None,
          duration: float | None = None, out: TextIO | None = None, paths: LabPaths | None = None) -> int:
    out = out or sys.stdout
    paths = paths or LabPaths.default()
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    # A watch is a run in the bookkeeping's eyes: its record (pid, running) keeps any reaper away
    # from its tracefs instances, and its id names them.
    record = RunRecord(run_id=new_run_id(), pid=os.getpid(), started_at=time.time(), notes=["stowaway watch"])
    lease = record.run_id
    engine = engine_mod.acquire(lease, docker_host, paths)
    record.save(paths)
    lock = threading.Lock()
    count = 0

    def emit(alert: Alert) -> None:
        nonlocal count
        with lock:
            count += 1
            out.write(json.dumps(alert.to_dict(), sort_keys=True, default=str) + "\n")
            out.flush()

    monitor = None
    try:
        monitor = build_monitor(engine, rule_dirs, policy_dirs, run_id=record.run_id)
        monitor.engine.subscribe(emit)
        monitor.start()
        rules = len(monitor.engine.rules)
        analytics = len(monitor.engine.analytics)
        health = monitor.health()
        sensors = ", ".join(h.name for h in health if h.healthy)
        until = "" if duration is None else f" for {duration:g}s"
        print(f"watching {engine.base_url}{until}: {rules} Sigma rule(s), {analytics} analytic(s), "
              f"sensors {sensors}; alerts go to stdout as JSON lines, Ctrl-C stops", file=sys.stderr, flush=True)
        for sick in (h for h in health if not h.healthy):  # the others run without it
            print(f"sensor {sick.name} {sick.state}: {sick.reason}", file=sys.stderr, flush=True)
        deadline = None if duration is None else time.monotonic() + duration
        while not stop.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            stop.wait(0.5 if remaining is None else min(0.5, remaining))
    finally:
        if monitor is not None:
            monitor.stop()
        engine_mod.release(engine, lease)
        record.status, record.finished_at = "complete", time.time()
        record.save(paths)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    events = monitor.engine.counters.events if monitor is not None else 0
    print(f"stopped: {events} event(s) seen, {count} alert(s) raised", file=sys.stderr, flush=True)
    return 0
