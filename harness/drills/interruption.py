"""Interruption drills: SIGINT mid-scenario, SIGKILL mid-run then a fresh run, a scenario that raises
halfway, and the engine stopped halfway. Each counts what the interrupted run left (leftovers.py).

Every run is a child ``stowaway run`` on a drill scenario (pack.py) that leaves a container, a NAT
rule in its namespace and a host file; the drill acts once that scenario's marker file exists.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

from harness.bench.report import Figure
from harness.drills import leftovers
from lab import LabPaths, live_leases, poll, stop_private

Progress = Callable[[str], None]
_RUN_ID = re.compile(r"bringing up run (\S+)")
FRESH_RUN = ["docker.logging.log-driver-none"]  # a short real scenario: its start-up reaps dead runs


class Child:
    """A ``stowaway run`` child with its progress going to a file we can read while it runs."""

    def __init__(self, work: Path, name: str, argv: list[str]) -> None:
        self.log = work / f"{name}.log"
        self._handle = open(self.log, "wb")  # noqa: SIM115 - closed in wait()
        # SIGINT back to its default first: a drill started from a background job inherits it ignored,
        # and a child that ignores SIGINT would make the SIGINT drill prove nothing.
        self.proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "--out", str(work / name), *argv],
                                     stdout=self._handle, stderr=subprocess.STDOUT,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def run_id(self, timeout: float = 120) -> str | None:
        match = poll(lambda: _RUN_ID.search(self.log.read_text(errors="replace")), timeout,
                     give_up=lambda: self.proc.poll() is not None)
        return match.group(1) if match else None

    def wait(self, timeout: float = 300) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self._handle.close()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-1500:]


def wait_marker(paths: LabPaths, run_id: str, child: Child, timeout: float = 120) -> bool:
    return bool(poll(lambda: any((paths.host_root / run_id).glob("*/state/marker")), timeout,
                     give_up=lambda: child.proc.poll() is not None))


def _client(paths: LabPaths) -> Any:
    try:
        client = docker.DockerClient(base_url=f"unix://{paths.engine_socket}", timeout=60)
        client.ping()
        return client
    except Exception:
        return None


def _figure(name: str, measure: str, counts: dict[str, Any], detail: dict[str, Any], record_ok: set[str]) -> Figure:
    left = leftovers.total(counts)
    good_record = counts.get("run_record") in record_ok
    detail = {**detail, "left": counts, "record_ok": good_record}
    # A lost or half-written run record is as much a failure as a leftover object.
    return Figure(name, measure, left + (0 if good_record else 1), 0, "<=", "objects left (+1 if the record is bad)",
                  detail=detail)


def sigint_mid_scenario(work: Path, pack: Path, paths: LabPaths, progress: Progress) -> Figure:
    child = Child(work, "sigint", ["--scenarios", str(pack), "drill.wait-halfway"])
    run_id = child.run_id()
    halfway = bool(run_id and wait_marker(paths, run_id, child))
    child.proc.send_signal(signal.SIGINT)
    code = child.wait()
    progress(f"drills: SIGINT mid-scenario: run {run_id} exited {code}")
    counts = leftovers.count(_client(paths), paths, run_id or "?")
    return _figure("interrupt.sigint-mid-scenario", "SIGINT to `stowaway run` mid-scenario: objects left",
                   counts, {"run_id": run_id, "halfway": halfway, "exit": code, "expected_exit": 130},
                   {"aborted"})


def sigkill_then_fresh(work: Path, pack: Path, paths: LabPaths, progress: Progress) -> list[Figure]:
    child = Child(work, "sigkill", ["--scenarios", str(pack), "drill.wait-halfway"])
    run_id = child.run_id()
    halfway = bool(run_id and wait_marker(paths, run_id, child))
    child.proc.send_signal(signal.SIGKILL)
    code = child.wait()
    before = leftovers.count(_client(paths), paths, run_id or "?")
    progress(f"drills: SIGKILL: run {run_id} left {leftovers.total(before)} object(s); starting a fresh run")
    fresh = Child(work, "fresh", ["--quiet", *FRESH_RUN])
    fresh_code = fresh.wait()
    after = leftovers.count(_client(paths), paths, run_id or "?")
    return [
        Figure("interrupt.sigkill-left-before-reap", "SIGKILL of `stowaway run` mid-run: objects left right after "
               "(nothing can clean up a killed process; reported)", leftovers.total(before), None,
               unit="objects", detail={"run_id": run_id, "halfway": halfway, "exit": code, "left": before}),
        _figure("interrupt.sigkill-then-fresh-run", "SIGKILL mid-run, then a fresh `stowaway run`: objects of the "
                "killed run left after the fresh run", after, {"fresh_exit": fresh_code}, {"aborted"}),
    ]


def raise_halfway(work: Path, pack: Path, paths: LabPaths, progress: Progress) -> Figure:
    child = Child(work, "raise", ["--scenarios", str(pack), "drill.raise-halfway"])
    run_id = child.run_id()
    code = child.wait()
    scorecard = work / "raise" / "scorecard.json"
    verdict = None
    if scorecard.exists():
        import json

        outcomes = json.loads(scorecard.read_text()).get("outcomes", [])
        verdict = outcomes[0]["verdict"] if outcomes else None
    progress(f"drills: raising scenario: run {run_id} exited {code}, verdict {verdict}")
    counts = leftovers.count(_client(paths), paths, run_id or "?")
    return _figure("interrupt.scenario-raises", "a scenario that raises halfway: objects left", counts,
                   {"run_id": run_id, "exit": code, "verdict": verdict, "expected": "error verdict, exit 1"},
                   {"complete"})


def engine_stopped(work: Path, pack: Path, paths: LabPaths, progress: Progress) -> list[Figure]:
    others = sorted(p.name for p in live_leases(paths))
    if others:
        why = f"other runs hold the shared engine ({', '.join(others)}): it is not stopped under them"
        return [Figure("interrupt.engine-stopped", "engine stopped halfway", None, 0, skipped=why)]
    child = Child(work, "engine", ["--scenarios", str(pack), "drill.wait-halfway"])
    run_id = child.run_id()
    halfway = bool(run_id and wait_marker(paths, run_id, child))
    others = sorted(p.name for p in live_leases(paths) if p.name != run_id)
    if others:  # someone started a run meanwhile: do not stop the engine under them
        child.proc.send_signal(signal.SIGINT)
        child.wait()
        return [Figure("interrupt.engine-stopped", "engine stopped halfway", None, 0,
                       skipped=f"another run started meanwhile ({', '.join(others)})")]
    stopped = stop_private(paths)
    code = child.wait(timeout=600)
    progress(f"drills: engine stopped under run {run_id} (stopped={stopped}); the run exited {code}")
    right_after = leftovers.count(None, paths, run_id or "?")
    fresh = Child(work, "engine-fresh", ["--quiet", *FRESH_RUN])
    fresh_code = fresh.wait()
    after = leftovers.count(_client(paths), paths, run_id or "?")
    return [
        Figure("interrupt.engine-stopped-host-left", "engine stopped halfway: host-side objects (iptables, tracefs, "
               "files) the interrupted run left right after it exited", leftovers.total(right_after), 0, "<=",
               "objects", detail={"run_id": run_id, "halfway": halfway, "exit": code, "left": right_after,
                                  "run_log_tail": child.tail()[-600:]}),
        _figure("interrupt.engine-stopped-then-fresh-run", "engine stopped halfway, then a fresh run (which starts "
                "the engine and reaps): objects of the interrupted run left", after, {"fresh_exit": fresh_code},
                # The run itself finishes (its scenario errors, its teardown notes the lost engine), so a
                # whole record saying "complete" with that note is right; only missing/half-written is not.
                {"aborted", "failed", "complete"}),
    ]
