"""``python -m harness.bench [--only STEP ...] [--out reports]``: measure, then write reports/bench.{json,md}.

Steps: ``replay`` (no lab), ``latency`` and ``scale`` (one lab run of the bench's own, with the
detectors attached in this process for the latencies), ``cluster`` (a kind cluster of its own: the
node agent with 100 pods per worker, pod scenarios at once), ``suite`` (the whole default suite in a
child ``stowaway run``). Every comparison is a ratio of two things measured in this one invocation.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import tempfile
import time
import traceback
from pathlib import Path

from harness.bench.report import Figure, Report

STEPS = ("replay", "latency", "scale", "cluster", "suite")


def _progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def lab_steps(report: Report, steps: set[str], args: argparse.Namespace) -> None:
    from harness.bench import latency, loaded, response, scale
    from harness.monitoring import build_monitor
    from lab import LabSession

    session = LabSession()
    monitor = None
    status = "aborted"
    try:
        _progress(f"bench: lab run {session.run_id} coming up")
        session.up()
        if "latency" in steps:
            monitor = build_monitor(session.engine, run_id=session.run_id)
            monitor.start()
            time.sleep(2)
            report.add(latency.figures(session, monitor, args.repetitions, args.resource_repetitions, _progress))
            report.add(response.figures(session, monitor, args.repetitions, _progress))
            report.add(loaded.figures(session, monitor, args.repetitions, _progress))
            monitor.stop()
            monitor = None
        if "scale" in steps:
            report.add(scale.sensor_overhead(session, _progress, seconds=args.seconds))
            report.add(scale.sampler_scale(session, _progress, containers=args.containers, seconds=args.seconds))
        status = "complete"
    finally:
        if monitor is not None:
            with contextlib.suppress(Exception):
                monitor.stop()
        for problem in session.down(status=status):
            report.notes.append(f"bench lab teardown: {problem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench", description=__doc__)
    parser.add_argument("--only", action="append", choices=STEPS, help="run only these steps (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--resource-repetitions", type=int, default=3)
    parser.add_argument("--containers", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--serial-run", action="store_true", help="also run the suite serially and compare")
    parser.add_argument("--update", action="store_true", help="keep the figures of the existing <out>/bench.json "
                        "that this invocation does not measure (with --only), each marked with when it was measured")
    args = parser.parse_args(argv)
    steps = set(args.only or STEPS)
    report = Report("bench")
    report.notes.append("every comparison is a ratio of two measurements taken in this one invocation; "
                        "2-core machines shared with other runs are noisy")
    kept = _kept_figures(args.out / "bench.json") if args.update else []
    with tempfile.TemporaryDirectory(prefix="stowaway-bench-") as tmp:
        work = Path(tmp)
        for name, step in (("replay", lambda: report.add(_replay(work, args.events))),
                           ("lab", lambda: lab_steps(report, steps, args)),
                           ("cluster", lambda: report.add(_cluster(args))),
                           ("suite", lambda: report.add(_suite(work, args)))):
            if (name == "lab" and not steps & {"latency", "scale"}) or (name != "lab" and name not in steps):
                continue
            try:
                step()
            except Exception as exc:
                report.notes.append(f"step {name} failed: {type(exc).__name__}: {exc}")
                report.add(Figure(f"{name}.error", f"step {name}", None, None, skipped=f"{type(exc).__name__}: {exc}"))
                traceback.print_exc()
            _write_keeping(report, kept, args.out)  # after every step: an interrupted bench keeps what it measured
    paths = _write_keeping(report, kept, args.out)
    _progress(f"bench: {report.counts()}; wrote {paths[0]} and {paths[1]}")
    return 0


def _kept_figures(path: Path) -> list[tuple[Figure, float]]:
    """The figures of an earlier report, with when that run started (``--update``)."""
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [(Figure.from_dict(f), float(data.get("started_at") or 0)) for f in data.get("figures", [])]


def _write_keeping(report: Report, kept: list[tuple[Figure, float]], out: Path) -> tuple[Path, Path]:
    """Write the report plus the earlier figures this invocation did not measure again, each saying when
    it was measured (the report itself is left as measured, so the next write starts from it again)."""
    measured = {f.name for f in report.figures}
    carried = []
    for figure, started in kept:
        if figure.name in measured:
            continue
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
        carried.append(dataclasses.replace(figure, detail={**figure.detail, "measured_in_run_started_at": stamp}))
    if not carried:
        return report.write(out)
    note = (f"{len(carried)} figure(s) were not measured in this invocation and are kept from an earlier one "
            "(--update); each says when in detail.measured_in_run_started_at")
    whole = dataclasses.replace(report, figures=[*report.figures, *carried], notes=[*report.notes, note])
    return whole.write(out)


def _cluster(args: argparse.Namespace) -> list[Figure]:
    from harness.bench import cluster

    return cluster.figures(_progress, seconds=args.seconds)


def _replay(work: Path, events: int) -> list[Figure]:
    from harness.bench import replay

    return replay.figures(work, _progress, events=events, short=events // 4)


def _suite(work: Path, args: argparse.Namespace) -> list[Figure]:
    from harness.bench import suite

    return suite.figures(work, _progress, serial_run=args.serial_run)


if __name__ == "__main__":
    sys.exit(main())
