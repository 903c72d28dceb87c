"""Docker-events detection latency while the lab is busy: six real scenarios running at once.

The quiet-lab latency (``latency.docker-events.p95``) says how fast the detector is; a purple team
cares how fast it is when the suite itself loads the host, which is when the event stream is
busiest and the two cores are shared with container starts, packet capture and judging. Here six
worker threads keep detonating and judging real Docker scenarios from the catalogue (parallel-safe,
not CPU-bound: the same ones ``stowaway run`` runs six at a time) in the bench's own lab session,
on the same monitor, while the docker-events probe repeats in the main thread.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from detectors.engine import Monitor
from harness.bench.latency import PROBES, detector_share, run_probe
from harness.bench.report import Figure, percentile
from lab import LabSession
from scenarios.api import Scenario

Progress = Callable[[str], None]

LOAD = 6  # scenarios at once, as the target and `stowaway run --parallel` default say


def load_scenarios() -> list[type[Scenario]]:
    """Docker scenarios the runner would run side by side (parallel-safe, not CPU-bound, no simulated clock)."""
    from scenarios.registry import load

    return [cls for cls in load().all()
            if "docker" in cls.backends and cls.parallel_safe and not cls.cpu_bound and not cls.simulated_time]


class Load:
    """``workers`` threads, each detonating and judging scenarios one after another until stopped."""

    def __init__(self, session: LabSession, monitor: Monitor, scenarios: list[type[Scenario]],
                 workers: int, seed: int = 1) -> None:
        self.session, self.monitor, self.workers = session, monitor, workers
        self.scenarios = list(scenarios)
        random.Random(seed).shuffle(self.scenarios)  # each worker starts at a different place in the list
        self.stop = threading.Event()
        self.ran: list[str] = []
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def _worker(self, index: int) -> None:
        from harness.runner import execute

        position = index * max(1, len(self.scenarios) // self.workers)
        while not self.stop.is_set():
            cls = self.scenarios[position % len(self.scenarios)]
            position += 1
            outcome = execute(cls, self.session, self.monitor, "docker", progress=lambda _: None)
            with self._lock:
                self.ran.append(cls.id)
                if outcome.verdict.value == "error":
                    self.failed.append(f"{cls.id}: {outcome.reason}")

    def __enter__(self) -> Load:
        if not self.scenarios:
            raise ValueError("no scenario to load the lab with")
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="bench-load")
        for i in range(self.workers):
            self._pool.submit(self._worker, i)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # each worker finishes (and cleans up) its current scenario


def figures(session: LabSession, monitor: Monitor, repetitions: int, progress: Progress,
            workers: int = LOAD) -> list[Figure]:
    probe = next(p for p in PROBES if p.key == "docker-events")
    scenarios = load_scenarios()
    progress(f"bench: docker-events latency with {workers} scenarios running at once "
             f"({len(scenarios)} in rotation)")
    with Load(session, monitor, scenarios, workers) as load:
        measured = run_probe(session, monitor, probe, repetitions, progress)
    values, misses = measured.latencies, measured.misses
    samples = values + [float("inf")] * misses
    return [Figure(
        "latency.docker-events-loaded.p95",
        f"detection latency p95, Docker events ({probe.rule_id}), while {workers} scenarios run at once",
        percentile(samples, 95) if samples else None, 1.0, "<=", "s",
        detail={"repetitions": repetitions, "alerts": len(values), "no_alert": misses, "load_workers": workers,
                "load_scenarios_run": len(load.ran), "load_errors": load.failed[:10],
                "p50": percentile(values, 50) if values else None, "max": max(values, default=None),
                "samples": [round(v, 4) for v in values], **detector_share(measured)},
        skipped="" if samples else "no repetition ran")]
