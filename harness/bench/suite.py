"""The whole default suite: wall time with parallelism against the serial sum, and the detector's peak RSS.

``stowaway run`` runs in a child process (the detectors run inside it, on the monitor's threads), and
the kernel's high-water mark of its resident set (VmHWM) is polled until it exits. The serial sum is
the sum of each scenario's own duration (start of detonation to the end of its cleanup) in the same
run, read from the run's scorecard; optionally a second, serial run (``--parallel 1``) measures the
real thing in the same bench invocation.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.bench.replay import peak_rss_bytes
from harness.bench.report import Figure, ratio

Progress = Callable[[str], None]


def run_suite(out_dir: Path, parallel: int, extra: list[str] | None = None) -> dict[str, Any]:
    """Run ``stowaway run`` into ``out_dir``; wall time, exit code, peak RSS and the scorecard."""
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "--quiet", "--parallel", str(parallel),
                              "--out", str(out_dir), *(extra or [])],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = 0
    while child.poll() is None:
        peak = max(peak, peak_rss_bytes(child.pid))
        time.sleep(0.5)
    wall = time.monotonic() - started
    tail = (child.stdout.read().decode(errors="replace") if child.stdout else "")[-3000:]
    scorecard_path = out_dir / "scorecard.json"
    scorecard = json.loads(scorecard_path.read_text()) if scorecard_path.exists() else {}
    return {"wall_s": wall, "exit": child.returncode, "peak_rss_bytes": peak, "scorecard": scorecard, "tail": tail}


def serial_sum(scorecard: dict[str, Any]) -> float:
    """Sum of every scenario's own duration in the run (what running them one by one would cost)."""
    return sum(max(0.0, o["finished_at"] - o["started_at"]) for o in scorecard.get("outcomes", [])
               if isinstance(o.get("started_at"), (int, float)) and isinstance(o.get("finished_at"), (int, float)))


def scenario_span(scorecard: dict[str, Any]) -> float:
    """From the first scenario's start to the last one's end: the suite's wall time without lab set-up."""
    outcomes = [o for o in scorecard.get("outcomes", []) if isinstance(o.get("started_at"), (int, float))]
    if not outcomes:
        return 0.0
    return max(o["finished_at"] for o in outcomes) - min(o["started_at"] for o in outcomes)


def figures(work: Path, progress: Progress, parallel: int = 4, serial_run: bool = False) -> list[Figure]:
    progress(f"bench: running the whole default suite ({parallel} at once)")
    par = run_suite(work / "suite-parallel", parallel)
    card = par["scorecard"]
    verdicts = card.get("summary", {}).get("verdicts", {})
    summed = serial_sum(card)
    span = scenario_span(card)
    detail = {"exit": par["exit"], "scenarios": len(card.get("outcomes", [])), "verdicts": verdicts,
              "wall_s": round(par["wall_s"], 1), "scenario_span_s": round(span, 1),
              "serial_sum_s": round(summed, 1), "run_id": card.get("run_id")}
    if par["exit"] not in (0, 1) or not card:
        detail["tail"] = par["tail"]
    out = [Figure("suite.parallel-vs-serial-sum", f"whole default suite wall time ({parallel} at once, lab set-up "
                  "and teardown included) / serial sum of the same scenarios' durations in that run",
                  round(ratio(par["wall_s"], summed), 3) if summed else None, 0.4, "<=", "x", detail=detail,
                  skipped="" if summed else "the suite produced no scorecard"),
           Figure("memory.suite-peak-rss", "peak RSS of the detector process (`stowaway run`) during the suite",
                  round(par["peak_rss_bytes"] / 2**20, 1), None, unit="MiB",
                  detail={"run_passed": card.get("summary", {}).get("passed")})]
    if serial_run:
        progress("bench: running the same suite serially (--parallel 1)")
        ser = run_suite(work / "suite-serial", 1)
        out.append(Figure("suite.parallel-vs-serial-run", f"whole suite wall time ({parallel} at once) / wall time "
                          "of a serial run of the same suite, same bench invocation",
                          round(ratio(par["wall_s"], ser["wall_s"]), 3), 0.4, "<=", "x",
                          detail={"parallel_wall_s": round(par["wall_s"], 1), "serial_wall_s": round(ser["wall_s"], 1),
                                  "serial_exit": ser["exit"]}))
    return out
