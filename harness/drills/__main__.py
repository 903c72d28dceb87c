"""``python -m harness.drills [--only DRILL ...] [--out reports]``: run the drills, write reports/drills.{json,md}.

Drills: ``interrupt`` (SIGINT, SIGKILL + fresh run, a raising scenario, the engine stopped — that
one only when no other run holds the shared engine), ``bad-input``, ``fuzz``, ``overload``,
``containment`` (captures while the whole suite runs) and ``concurrency`` (two whole suites at once).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from harness.bench.report import Figure, Report

DRILLS = ("interrupt", "bad-input", "fuzz", "overload", "containment", "concurrency")


def _progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _interrupt(work: Path) -> list[Figure]:
    from harness.drills import interruption, pack
    from lab import LabPaths

    paths = LabPaths.default()
    scenarios = pack.write(work)
    out = [interruption.sigint_mid_scenario(work, scenarios, paths, _progress)]
    out += interruption.sigkill_then_fresh(work, scenarios, paths, _progress)
    out.append(interruption.raise_halfway(work, scenarios, paths, _progress))
    out += interruption.engine_stopped(work, scenarios, paths, _progress)
    return out


def _bad_input(work: Path) -> list[Figure]:
    from harness.drills import badinput

    # The gate cases need one valid scorecard to break: a short real run makes it.
    from harness.drills.interruption import FRESH_RUN, Child

    Child(work, "bad-input-reference", ["--quiet", *FRESH_RUN]).wait()
    reference = json.loads((work / "bad-input-reference" / "scorecard.json").read_text())
    return badinput.run(work, _progress, reference)


def _fuzz(work: Path) -> list[Figure]:
    from harness.drills import fuzz

    return fuzz.run(_progress)


def _overload(work: Path) -> list[Figure]:
    from harness.drills import overload

    return overload.run(_progress)


def _containment(work: Path) -> list[Figure]:
    from harness.drills import containment

    return containment.run(work, _progress)


def _concurrency(work: Path) -> list[Figure]:
    from harness.drills import concurrency

    return concurrency.run(work, _progress)


STEPS: dict[str, Callable[[Path], list[Figure]]] = {
    "interrupt": _interrupt, "bad-input": _bad_input, "fuzz": _fuzz, "overload": _overload,
    "containment": _containment, "concurrency": _concurrency,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.drills", description=__doc__)
    parser.add_argument("--only", action="append", choices=DRILLS, help="run only these drills (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    report = Report("drills")
    with tempfile.TemporaryDirectory(prefix="stowaway-drills-") as tmp:
        for name in args.only or DRILLS:
            work = Path(tmp) / name
            work.mkdir()
            _progress(f"drills: {name}")
            try:
                report.add(STEPS[name](work))
            except Exception as exc:  # one broken drill must not lose the others' figures
                report.notes.append(f"drill {name} failed: {type(exc).__name__}: {exc}")
                report.add(Figure(f"{name}.error", f"drill {name}", None, None, skipped=f"{type(exc).__name__}: {exc}"))
                traceback.print_exc()
            report.write(args.out)
    paths = report.write(args.out)
    _progress(f"drills: {report.counts()}; wrote {paths[0]} and {paths[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
