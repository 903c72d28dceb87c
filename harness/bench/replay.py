"""Rule-engine replay: events/s through the full detection engine against the plain orjson parse rate.

Both rates are taken in one process over the same file, read the same way (buffered lines from the
page cache), so the ratio cancels the machine's speed and most of its noise. The parse-only pass
runs before and after the engine pass and the faster one counts, so a warm-up or a noisy neighbour
can only make the engine's ratio look worse, never better.

Run as ``python -m harness.bench.replay FILE [--limit N]``: prints one JSON object with the rates
and the process's peak RSS (VmHWM), so the bench can compare peaks of runs of different lengths.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


def peak_rss_bytes(pid: str | int = "self") -> int:
    """The kernel's high-water mark of the process's resident set (VmHWM), in bytes; 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _lines(path: Path, limit: int | None) -> Iterator[bytes]:
    with open(path, "rb", buffering=1 << 20) as handle:
        yield from (handle if limit is None else itertools.islice(handle, limit))


def parse_rate(path: Path, limit: int | None = None) -> tuple[int, float]:
    """(events, seconds) for orjson.loads of every line and nothing else."""
    loads = orjson.loads
    started = time.perf_counter()
    n = 0
    for line in _lines(path, limit):
        loads(line)
        n += 1
    return n, time.perf_counter() - started


def engine_rate(path: Path, limit: int | None = None, empty: bool = False) -> dict[str, Any]:
    """Replay through policy enrichment, every Sigma rule and every analytic (the live engine's path).

    ``empty``: through an engine with no policy, rule or analytic, i.e. the replay loop and the
    engine's dispatch alone: the most any detection written in Python on this loop could reach."""
    from detectors.analytics import default_analytics
    from detectors.engine import DetectionEngine, load_rules
    from detectors.policies import Policy, load_policy
    from detectors.replay import replay
    from detectors.sigma import RuleSet

    if empty:
        engine = DetectionEngine(RuleSet([]), Policy())
    else:
        policy = load_policy()
        engine = DetectionEngine(load_rules(), policy, default_analytics(policy))
    started = time.perf_counter()
    counters, _ = replay(_lines(path, limit), engine)
    seconds = time.perf_counter() - started
    return {"events": counters.lines, "seconds": seconds, "alerts": counters.alerts, "unparsed": counters.unparsed,
            "dropped": engine.counters.dropped, "rules": len(engine.rules), "analytics": len(engine.analytics)}


def measure(path: Path, limit: int | None = None) -> dict[str, Any]:
    n1, s1 = parse_rate(path, limit)
    replayed = engine_rate(path, limit)
    n2, s2 = parse_rate(path, limit)
    floor = engine_rate(path, limit, empty=True)
    parse_eps = max(n1 / s1, n2 / s2)
    engine_eps = replayed["events"] / replayed["seconds"]
    floor_eps = floor["events"] / floor["seconds"]
    return {"parse_eps": parse_eps, "parse_eps_runs": [n1 / s1, n2 / s2], "engine_eps": engine_eps,
            "ratio": engine_eps / parse_eps, "floor_eps": floor_eps, "floor_ratio": floor_eps / parse_eps,
            **replayed, "peak_rss_bytes": peak_rss_bytes()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.replay")
    parser.add_argument("file", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--engine-only", action="store_true", help="skip the parse passes (memory runs)")
    args = parser.parse_args(argv)
    if args.engine_only:
        result = {**engine_rate(args.file, args.limit), "peak_rss_bytes": peak_rss_bytes()}
    else:
        result = measure(args.file, args.limit)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def figures(work: Path, progress: Any, events: int = 1_000_000, short: int = 250_000) -> list[Any]:
    """Generate ``events`` to a file, replay it, and replay a ``short`` prefix for the memory growth check."""
    import subprocess

    from harness.bench import telemetry
    from harness.bench.report import Figure, ratio

    path = work / f"telemetry-{events}.jsonl"
    if not path.exists():
        progress(f"bench: generating {events:,} events of recorded-looking telemetry")
        telemetry.write(path, events)

    def child(*args: str) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "harness.bench.replay", str(path), *args],
                             capture_output=True, check=True, timeout=3600)
        return orjson.loads(out.stdout.splitlines()[-1])

    progress(f"bench: replaying {events:,} events (parse, engine, parse)")
    full = child()
    progress(f"bench: memory: engine-only replays of {short:,} and {events:,} events")
    small, large = child("--engine-only", "--limit", str(short)), child("--engine-only")
    detail = {k: full[k] for k in ("events", "parse_eps", "parse_eps_runs", "engine_eps", "alerts", "unparsed",
                                   "dropped", "rules", "analytics", "floor_eps", "floor_ratio")}
    # floor_ratio: the same replay through an engine with nothing in it (the loop and dispatch alone),
    # against the same parse: the most detection in Python on this loop could reach.
    detail["file_bytes"] = path.stat().st_size
    growth = ratio(large["peak_rss_bytes"], small["peak_rss_bytes"])
    return [
        Figure("replay.engine-vs-parse", f"events/s through policy enrichment, {full['rules']} Sigma rules and "
               f"{full['analytics']} analytics / plain orjson parse rate, same file, same process",
               round(full["ratio"], 4), 0.75, ">=", "x", detail=detail),
        Figure("replay.engine-eps", "events/s through the full detection engine (reported)", round(full["engine_eps"]),
               None, unit="events/s"),
        Figure("memory.replay-peak-rss", f"peak RSS of a detector process replaying {events:,} events",
               round(large["peak_rss_bytes"] / 2**20, 1), None, unit="MiB"),
        Figure("memory.replay-growth", f"peak RSS replaying {events:,} / replaying {short:,} events "
               "(bounded: no growth with replay length)", round(growth, 3), 1.1, "<=", "x",
               detail={"short_peak_mib": round(small["peak_rss_bytes"] / 2**20, 1),
                       "long_peak_mib": round(large["peak_rss_bytes"] / 2**20, 1)}),
    ]
