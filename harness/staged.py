"""Staged detonations: ``stowaway detonate ID [--keep]`` and ``stowaway revert ID``.

The lifecycle Stratus Red Team users know (detonate, look, revert) on the lab. Without ``--keep`` a
detonation is a one-scenario run with live output: the lab comes up, the detectors attach, the
runner's ``execute`` detonates and judges, and everything is torn down as a run does.

With ``--keep`` the scenario's objects stay for a purple team to inspect by hand or point another
tool at. What makes that safe is who holds them: a detached holder process
(``python -m harness.staged_holder``, harness/staged_holder.py) brings the run up, detonates, and
then keeps, in memory, exactly what a run would have unwound (the scenario instance whose
``revert`` is pending, and its scope's cleanup stack: containers, host processes, images, restored
files), while it keeps holding the run's lab like any live run:

* its engine lease (``<runtime>/leases/<run id>``, its own pid), so the private engine stays up
  after ``detonate`` returns and ``lab down`` only stops the ``lab up`` holder;
* its run record (``runs/<run id>.json``, status running, its own pid), so the reaper (at every
  run's start, and ``stowaway reap``) treats the run as live and leaves it alone;
* the run's networks, sinkhole and host guard rules, which the kept containers still sit behind.

The state record (harness/staged_state.py, ``<runtime>/staged/<scenario id>.json``) says which
scenario and variant, the run id, the holder's pid, the objects and the pending undo steps, and
when. ``lab status`` lists it. ``stowaway revert`` is a fresh process: it reads the record and
asks the holder (SIGTERM) to run the scenario's revert, unwind the cleanup stack and tear the run
down as a run does; then it removes the record. When the holder is gone (killed, or a revert
interrupted half-way), revert removes what the run left from the bookkeeping alone, as the reaper
does for a dead run: everything carrying the run label, the guard rules and tracefs instances
named after the run, its host directory. Undo steps that only the holder could run are named.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from detectors.engine import Monitor
from harness import staged_state
from harness.monitoring import add_cluster_sensors, build_monitor
from harness.outcome import Outcome, Verdict
from harness.runner import _terminate_as_exception, execute, scenario_backend
from harness.staged_state import KeptDetonation, StateError
from lab import IPTABLES_COMMENT_PREFIX, RUN_LABEL, TRACEFS_INSTANCE_PREFIX, LabPaths, LabSession, poll, reap
from lab import engine as engine_mod
from scenarios.api import Scenario
from scenarios.registry import Registry
from scenarios.variants import Value, every_variant, variant_id

EXIT_PASS, EXIT_FAIL = 0, 1
Progress = Callable[[str], None]
# A detonation that ran to its verdict is kept; one that failed or could not run here is torn down
# at once: there is nothing meaningful to inspect, and a half-made lab is what Stratus users hate.
KEEPABLE = (Verdict.DETECTED, Verdict.MISSED, Verdict.SILENT, Verdict.FALSE_POSITIVE)
REVERT_TIMEOUT_S = 300.0  # the holder's teardown: swarm services and their tasks can take minutes
# The undo steps ``lab.Lab`` registers for what carries the run label or lives under the run's host
# directory: the sweep removes those without the holder. Any other step (a host process, an image,
# a restored file) only the holder can run.
SWEPT_STEPS = ("remove container:", "remove service:", "remove network ", "remove volume ", "remove host dir ")


class StagedError(Exception):
    """A detonation or revert refused before anything starts; the message names the thing."""


@dataclass(frozen=True, slots=True)
class Target:
    """What to detonate: a scenario, and the variant asked for (None: the canonical run)."""

    cls: type[Scenario]
    variant: dict[str, Value] | None = None

    @property
    def ident(self) -> str:
        return self.cls.id if self.variant is None else variant_id(self.cls, self.variant)


def resolve(registry: Registry, ident: str) -> Target:
    """The scenario or variant ``ident`` names (``id`` or ``id@name=value,...``).

    Raises:
        StagedError: no such scenario, or no such variant of it (the message lists its dimensions).
    """
    base, at, _ = ident.partition("@")
    try:
        cls = registry.get(base)
    except KeyError as exc:
        raise StagedError(exc.args[0]) from None
    if not at:
        return Target(cls)
    for variant in every_variant(cls):
        if variant_id(cls, variant) == ident:
            return Target(cls, variant)
    dimensions = "; ".join(f"{d.name}: {', '.join(map(str, d.values))}" for d in cls.dimensions) or "none"
    raise StagedError(f"{ident}: no such variant of {base} (a variant id is {base}@name=value,... with the values "
                      f"that differ from the canonical run, or {base}@canonical; its dimensions: {dimensions})")


def check(target: Target, backend: str, keep: bool, paths: LabPaths) -> None:
    """Refuse, before anything starts, a detonation that cannot run here or would clash with a kept one.

    Raises:
        StagedError: the message names the scenario and what to do instead.
    """
    cls = target.cls
    if scenario_backend(backend) not in cls.backends:
        raise StagedError(f"{target.ident}: does not run on the {backend} backend (it runs on "
                          f"{', '.join(cls.backends)}); choose one with --backend")
    if keep and not cls.parallel_safe:
        raise StagedError(f"{target.ident}: --keep: it changes state that every run on the engine shares (the "
                          "engine's config, node labels or the detectors' clock), which must not stay changed beside "
                          "other runs; detonate it without --keep")
    record = _read(paths, cls.id)
    if record is not None and _never_started(record):
        record.remove(paths)
        record = None
    if record is not None:
        raise StagedError(refusal(record))


def _never_started(record: KeptDetonation) -> bool:
    """A claim whose command died before any holder took it over: no run was made, nothing to undo."""
    return record.status == "detonating" and record.run_id is None and not record.holder_alive


def refusal(record: KeptDetonation) -> str:
    """Why a scenario with a state record cannot be detonated again, and what to run."""
    revert = f"`stowaway revert {record.scenario_id}`"
    if record.status == "detonating" and record.holder_alive:
        return (f"{record.scenario_id} is being detonated with --keep right now (pid {record.holder_pid}); "
                f"{revert} undoes it")
    run = f"run {record.run_id}" if record.run_id else "no run yet"
    return (f"{record.scenario_id} is already kept ({record.detonation_id}, {run}, status {record.status}, "
            f"since {time.strftime('%H:%M:%S', time.localtime(record.started_at))}): {revert} first")


def _read(paths: LabPaths, scenario_id: str) -> KeptDetonation | None:
    try:
        return staged_state.read(paths, scenario_id)
    except StateError as exc:
        raise StagedError(str(exc)) from None


# --- detonating ------------------------------------------------------------------------------------


class Attached:
    """A run's lab with the detectors attached (``attached`` below)."""

    def __init__(self, session: LabSession) -> None:
        self.session = session
        self.monitor: Monitor | None = None

    def stop_detectors(self) -> None:
        """Detach the detectors (idempotent): a kept lab is not watched while it waits."""
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            with contextlib.suppress(Exception):
                monitor.stop()


@contextlib.contextmanager
def attached(session: LabSession, progress: Progress) -> Iterator[Attached]:
    """Bring ``session`` up with the detectors attached; on the way out, whatever happened (an error,
    SIGINT, SIGTERM), detach them and tear the run down, as ``runner.run`` does."""
    handle = Attached(session)
    status = "aborted"
    with _terminate_as_exception():
        try:
            progress(f"lab: bringing up run {session.run_id} (engine, base image, networks, sinkhole)")
            session.up()
            handle.monitor = build_monitor(session.engine, run_id=session.run_id)
            add_cluster_sensors(handle.monitor, session, progress)
            handle.monitor.start()
            yield handle
            status = "complete"
        finally:
            handle.stop_detectors()
            progress(f"lab: tearing down run {session.run_id}")
            for problem in session.down(status=status):
                progress(f"lab: {problem}")


def detonate_one(handle: Attached, target: Target, backend: str, progress: Progress,
                 cls: type[Scenario] | None = None) -> Outcome:
    """The runner's ``execute`` on one scenario, with the runner's progress lines around it."""
    assert handle.monitor is not None, "attached() starts the detectors before it yields"
    progress(f"[1/1] {target.ident}: detonating ({target.cls.kind.value})")
    outcome = execute(cls or target.cls, handle.session, handle.monitor, scenario_backend(backend), progress,
                      target.variant)
    progress(f"[1/1] {target.ident}: {outcome.verdict.value} - {outcome.reason}")
    return outcome


def detonate(target: Target, backend: str, docker_host: str | None, keep: bool, progress: Progress,
             out: TextIO) -> int:
    """``stowaway detonate``: 0 when the verdict passed, 1 otherwise. Interrupts propagate after teardown."""
    if keep:
        from harness.staged_holder import detonate_kept

        return detonate_kept(target, backend, docker_host, progress, out)
    session = LabSession(docker_host=docker_host, backend=backend)
    with attached(session, progress) as handle:
        outcome = detonate_one(handle, target, backend, progress)
    for line in render(outcome, session.run_id):
        print(line, file=out)
    return EXIT_PASS if outcome.passed else EXIT_FAIL


def render(outcome: Outcome, run_id: str) -> list[str]:
    """The verdict as ``stowaway run`` prints it for one scenario, then every alert on its objects."""
    verdict = outcome.verdict.value
    collateral = len(outcome.unlisted_collateral)
    counts = f"1 {verdict}" + (f"; {collateral} unlisted collateral alert(s)" if collateral else "")
    lines = [f"run {run_id}: {'PASS' if outcome.passed else 'FAIL'} ({counts})"]
    if not outcome.passed:
        lines.append(f"  {outcome.scenario_id}: {verdict}: {outcome.reason}")
        lines += [f"    false positive of {item.rule_id} on {item.object} (not in the scenario's may_fire)"
                  for item in outcome.unlisted_collateral]
    lines.append(f"alerts on its objects: {len(outcome.alerts)}")
    action_at = outcome.action_at or outcome.started_at
    for alert in sorted(outcome.alerts, key=lambda a: a.get("first_seen", 0.0)):
        after = float(alert.get("first_seen", action_at)) - action_at
        lines.append(f"  {alert.get('rule_id')} ({alert.get('severity')}) on {alert.get('object')}, "
                     f"{after:+.1f}s after the action: {alert.get('title')}")
    return lines


def kept_lines(record: KeptDetonation) -> list[str]:
    """What a kept detonation left, how to look at it, and how to undo it."""
    engine = record.docker_host or record.engine
    lines = [f"kept: run {record.run_id} holds {record.detonation_id}'s objects for inspection "
             f"(holder pid {record.holder_pid}, engine {engine}):"]
    lines += [f"  {ref}" for ref in record.objects] or ["  (it made no object of its own)"]
    lines += ["the run's lab stays up with them: its networks, the sinkhole, the host guard rules and an engine "
              "lease; the detectors are detached",
              f"look:    docker -H {engine} ps -a --filter label={RUN_LABEL}={record.run_id}",
              f"undo:    stowaway revert {record.scenario_id}"]
    return lines


# --- reverting -------------------------------------------------------------------------------------


def revert(ident: str, paths: LabPaths, progress: Progress, out: TextIO) -> int:
    """``stowaway revert``: 0 when nothing of the kept detonation is left and every undo step ran.

    Raises:
        StagedError: no kept detonation of ``ident`` (nothing is touched).
    """
    scenario_id = ident.partition("@")[0]
    record = _read(paths, scenario_id)
    if record is None:
        where = staged_state.record_path(paths, scenario_id)
        raise StagedError(f"{ident}: no kept detonation to revert (no state record {where}); "
                          "`stowaway lab status` lists the kept ones")
    if "@" in ident and ident != record.detonation_id:
        raise StagedError(f"{ident}: the kept detonation of {scenario_id} is {record.detonation_id}; "
                          f"`stowaway revert {scenario_id}` reverts it")
    if record.holder_alive:
        pid = record.holder_pid
        progress(f"revert: asking the holder of run {record.run_id} (pid {pid}) to revert "
                 f"{record.detonation_id} and tear its lab down")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not poll(lambda: not engine_mod._pid_alive(pid), REVERT_TIMEOUT_S, 0.2):
            print(f"error: the holder (pid {pid}) is still tearing down after {REVERT_TIMEOUT_S:.0f}s; its log is "
                  f"{staged_state.holder_log(paths, scenario_id)}; run `stowaway revert {scenario_id}` again",
                  file=out)
            return EXIT_FAIL
        after = _read(paths, scenario_id)  # what its release wrote
        if after is None:  # it was still detonating: it tore the run down and withdrew the record itself
            print(f"reverted {record.detonation_id}: it was still detonating, and its holder tore run "
                  f"{record.run_id or '(none yet)'} down; nothing of it is left", file=out)
            return EXIT_PASS
        record = after
    if _never_started(record):
        record.remove(paths)
        print(f"reverted {record.detonation_id}: its detonation never started a run, so nothing was there to undo; "
              "state record removed", file=out)
        return EXIT_PASS
    released = record.status == "released"
    unrun = [] if released else [s for s in record.cleanups if not s.startswith(SWEPT_STEPS)]
    print(f"reverting {record.detonation_id} (run {record.run_id or 'never started'}):", file=out)
    if released:
        print(f"  the holder ran the scenario's revert and {len(record.cleanups)} undo step(s), then tore the "
              "run's lab down (networks, sinkhole, guard rules, engine lease):", file=out)
        for step in record.cleanups:
            print(f"    {step}", file=out)
    else:
        when = {"kept": "while the detonation was kept", "releasing": "while it was reverting",
                "detonating": "while it was detonating"}[record.status]
        print(f"  its holder (pid {record.holder_pid}) died {when}: what the run left is removed from its "
              "bookkeeping instead, as the reaper does for a dead run", file=out)
    for problem in record.problems:
        print(f"  problem: {problem}", file=out)
    # A clean release still gets the cheap host-side check: a guard rule or tracefs instance its
    # teardown missed would outlive the record otherwise.
    if record.run_id and (not released or record.problems or host_leftovers(record.run_id, paths)):
        progress(f"revert: removing what run {record.run_id} left (labelled objects, guard rules, tracefs "
                 "instances, host directory)")
        removed, left = sweep(record.run_id, record.docker_host, paths)
        print(f"  removed: {removed}", file=out)
        if left:
            print(f"error: still there: {'; '.join(left)}; run `stowaway revert {scenario_id}` again", file=out)
            return EXIT_FAIL
    for step in unrun:
        print(f"  not undone (only its holder could): {step}", file=out)
    record.remove(paths)
    failed = bool(unrun) or any(not _swept(p) for p in record.problems)
    verdict = "not everything could be undone (above)" if failed else "nothing of it is left"
    print(f"reverted {record.detonation_id}: {verdict}; state record removed", file=out)
    return EXIT_FAIL if failed else EXIT_PASS


def _swept(problem: str) -> bool:
    """A problem the sweep resolves: something the holder left that carries the run's label."""
    return problem.startswith(("left behind after teardown", "teardown could not reach the engine")) or \
        problem.startswith(SWEPT_STEPS)


def sweep(run_id: str, docker_host: str | None, paths: LabPaths) -> tuple[str, list[str]]:
    """Remove what ``run_id`` left, the way the reaper removes a dead run's, holding a lease of our own
    meanwhile; then what is still there (empty when clean). Returns a summary of what went."""
    lease = f"revert-{os.getpid()}"
    engine = engine_mod.acquire(lease, docker_host, paths)
    try:
        report = reap(engine.client, paths, only={run_id})
        left = _engine_leftovers(engine.client, run_id)
    finally:
        engine_mod.release(engine, lease)
    summary = (f"{report.containers} container(s), {report.services} service(s), {report.networks} network(s), "
               f"{report.volumes} volume(s), {report.iptables_rules} iptables rule(s), {report.tracefs_instances} "
               f"tracefs instance(s), {report.host_dirs} host directory(ies), {report.node_labels} node label(s)")
    return summary, left + host_leftovers(run_id, paths)


def _engine_leftovers(client: Any, run_id: str) -> list[str]:
    label = {"label": f"{RUN_LABEL}={run_id}"}
    found = [f"container {c.id[:12]}" for c in client.containers.list(all=True, filters=label, sparse=True)]
    found += [f"network {n.name}" for n in client.networks.list(filters=label)]
    found += [f"volume {v.name}" for v in client.volumes.list(filters=label)]
    with contextlib.suppress(Exception):  # not a swarm manager: there can be no service
        found += [f"service {s.name}" for s in client.services.list(filters=label)]
    return found


def host_leftovers(run_id: str, paths: LabPaths) -> list[str]:
    """The run's iptables rules, tracefs instances and host directory, if any is still there."""
    found = []
    comment = f"{IPTABLES_COMMENT_PREFIX}{run_id}"
    for table in ("filter", "nat", "mangle", "raw"):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            dump = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True, timeout=20).stdout
            found += [f"iptables {table}: {line}" for line in dump.splitlines() if comment in line]
    instances = Path("/sys/kernel/tracing/instances")
    if instances.is_dir():
        found += [f"tracefs instance {p.name}" for p in instances.iterdir()
                  if p.name.startswith(f"{TRACEFS_INSTANCE_PREFIX}{run_id}")]
    if (paths.host_root / run_id).exists():
        found.append(f"host directory {paths.host_root / run_id}")
    return found
