"""The runner: detonate scenarios in a lab with the detectors attached, and judge each one.

Generating and verifying stay apart: a scenario only acts on the lab and records when it acted;
the runner then waits on the monitor's alerts, attributed to the scenario by the objects the lab
says it created and by the time window. The runner owns each scenario's cleanup stack and unwinds
it whatever happened. Teardown of the whole lab runs on success, failure, SIGINT and SIGTERM.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from detectors.alert import Alert
from detectors.clock import CLOCK
from detectors.engine import Monitor
from harness.blind_spots import blindspots_of, naming_blind_spot
from harness.external.collect import Collector, PidHistory
from harness.external.grading import grade
from harness.external.mapping import DetectorMapping
from harness.external.sources import AlertSource
from harness.fleet import alongside
from harness.judge import judge
from harness.monitoring import add_cluster_sensors, build_monitor, known_detector_ids, packet_ring
from harness.outcome import Outcome, RunResult, SoakResult, Verdict
from harness.recording import RunRecorder, platform_facts
from harness.response.playbooks import Playbook
from harness.response.responder import Responder
from lab import Lab, LabError, LabSession, plugins, poll
from scenarios.api import Kind, Scenario, ScenarioSkipped
from scenarios.attack import catalog
from scenarios.registry import ScenarioError, validate_expectation
from scenarios.variants import Variant, canonical, sample, variant_id

Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(slots=True)
class RunOptions:
    backend: str = "docker"
    docker_host: str | None = None
    parallel: int = 6  # scenarios at once; a scenario with parallel_safe = False runs alone
    rule_dirs: Sequence[Path] = ()
    policy_dirs: Sequence[Path] = ()
    progress: Progress = _stderr
    run_id: str | None = None
    soak_minutes: float | None = None  # also run the benign fleet beside the scenarios (harness/fleet)
    variants: int | None = 0  # sampled variants per scenario besides the canonical run; None: every one
    seed: int = 1  # what the variants are drawn from (scenarios.variants.sample)
    extra: dict[str, object] = field(default_factory=dict)
    # Also keep the run's raw events and what judging them again needs here (harness/recording.py).
    record_dir: Path | None = None
    # Other detectors graded on the same scenarios (``--alerts-from``): each source with its mapping.
    external: Sequence[tuple[AlertSource, DetectorMapping]] = ()
    # ``--respond``: the auto playbooks act on each adversary once judged; bundles go to evidence_dir.
    playbooks: Sequence[Playbook] = ()
    evidence_dir: Path | None = None


class Interrupted(BaseException):
    """SIGTERM, turned into an exception so that every finally block (teardown) still runs."""


@contextlib.contextmanager
def _terminate_as_exception() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_expectations(scenarios: Sequence[type[Scenario]], detector_ids: set[str]) -> None:
    """Refuse to start when a scenario's expectation is malformed or names a rule that does not
    exist: nothing runs half-way. Raises ScenarioError naming the file and the field."""
    for cls in scenarios:
        source = sys.modules[cls.__module__].__file__ or cls.id
        # The registry checks this shape when it loads a file; a class handed to run() directly
        # (a test, a plugin) gets the same check here.
        validate_expectation(cls.expect, cls.kind, source)
        for attr, ids in (("expect.fires", cls.expect.fires), ("expect.silent", cls.expect.silent),
                          ("expect.may_fire", tuple(cls.expect.may_fire))):
            for rule_id in ids:
                if rule_id not in detector_ids:
                    raise ScenarioError(source, attr, f"names unknown rule {rule_id!r}")


def run(scenarios: Sequence[type[Scenario]], options: RunOptions | None = None) -> RunResult:
    options = options or RunOptions()
    loaded = known_detector_ids(options.rule_dirs)
    # An id that exists nowhere is a typo (bad input). One that exists but is not loaded in this run
    # (a rule dir without it) is a lost detection: the scenario runs and is reported missed.
    check_expectations(scenarios, loaded | (known_detector_ids() if options.rule_dirs else set()))
    for group in plugins.GROUPS:  # a broken installed plugin stops the run here, before anything starts
        plugins.load(group)
    monitor: Monitor | None = None
    started = time.time()
    session = LabSession(run_id=options.run_id, docker_host=options.docker_host, backend=options.backend)
    outcomes: list[Outcome] = []
    soak: SoakResult | None = None
    sensors: list[dict[str, Any]] = []
    status = "aborted"
    recorder = RunRecorder(options.record_dir, session.paths.signatures) if options.record_dir is not None else None
    platform: dict[str, Any] | None = None
    collector = Collector(options.external, PidHistory()) if options.external else None
    finished_collecting = False
    with _terminate_as_exception():
        try:
            options.progress(f"lab: bringing up run {session.run_id} (engine, base image, networks, sinkhole)")
            session.up()
            monitor = build_monitor(session.engine, options.rule_dirs, options.policy_dirs, run_id=session.run_id)
            add_cluster_sensors(monitor, session, options.progress)
            if recorder is not None:
                monitor.add_tap(recorder.tap)
            if collector is not None:
                monitor.add_tap(collector.history.tap)
            responder = responder_for(session, monitor, options)
            monitor.start()
            if collector is not None:
                for source, mapping in options.external:
                    options.progress(f"external: grading {mapping.detector} on alerts from {source.where}")
                collector.start()
            with alongside(session, monitor, options.soak_minutes, options.progress) as fleet:
                outcomes = run_all(scenarios, session, monitor, options, responder)
            soak = fleet.result
            if collector is not None:
                finished_collecting = True
                for problem in collector.finish():
                    options.progress(f"external: {problem}")
            sensors = [dataclasses.asdict(h) for h in monitor.health()]
            _note_unloaded(outcomes, loaded)
            if recorder is not None:  # before teardown: the published facts go with the lab
                platform = _platform_facts(session, recorder, options.progress)
            status = "complete"
        finally:
            if collector is not None and not finished_collecting:  # a host daemon (auditd) must stop
                for problem in collector.finish(drain_s=0.0):
                    options.progress(f"external: {problem}")
            if monitor is not None:
                with contextlib.suppress(Exception):
                    monitor.stop()
            if recorder is not None:
                recorder.close()
            options.progress(f"lab: tearing down run {session.run_id}")
            problems = session.down(status="complete" if status == "complete" else "aborted")
            for problem in problems:
                options.progress(f"lab: {problem}")
    result = RunResult(run_id=session.run_id, attack_version=catalog().version, backend=options.backend,
                       started_at=started, finished_at=time.time(), outcomes=outcomes, status=status,
                       environment={"engine": session.engine.base_url, "private_engine": session.engine.private,
                                    "seed_label": catalog().seed_label, "sensors": sensors,
                                    "variants": {"requested": "all" if options.variants is None else options.variants,
                                                 "seed": options.seed}}, soak=soak)
    if collector is not None:
        result.external = [grade(result, item.alerts, item.mapping, source=item.source.where,
                                 unreadable=item.source.unreadable(), problems=item.source.problems(),
                                 notes=item.notes) for item in collector.collected]
    if recorder is not None and options.record_dir is not None:
        recorder.write_run(result, scenarios, platform)
        from harness.scorecard.triage import attach

        for problem in attach(result, options.record_dir, options.rule_dirs):
            options.progress(problem)
    return result


def _platform_facts(session: LabSession, recorder: RunRecorder, progress: Progress) -> dict[str, Any] | None:
    """The published facts a replay of this run needs; None (said) when the lab published none."""
    try:
        return platform_facts(session.paths, recorder.image_ids, recorder.network_ids, recorder.signatures)
    except (OSError, StopIteration, ValueError) as exc:
        progress(f"record: the platform's published facts could not be read ({type(exc).__name__}: {exc}); "
                 "a replay will find every image unsigned")
        return None


def _note_unloaded(outcomes: list[Outcome], loaded: set[str]) -> None:
    for outcome in outcomes:
        absent = [r.rule_id for r in outcome.rules if not r.fired and r.rule_id not in loaded]
        if outcome.verdict is Verdict.MISSED and absent:
            outcome.reason += f"; {', '.join(absent)} is not among this run's detectors"


def scenario_backend(backend: str) -> str:
    """The backend name scenarios declare: ``kind`` is the kubernetes backend on a kind cluster."""
    return "kubernetes" if backend == "kind" else backend


Work = tuple[type[Scenario], Variant | None]  # a scenario, and the variant to run (None: canonical)


def work_items(scenarios: Sequence[type[Scenario]], variants: int | None, seed: int) -> list[Work]:
    """Each scenario's canonical run, then its sampled variants (reproducible from ``seed``)."""
    items: list[Work] = []
    for cls in scenarios:
        items.append((cls, None))
        if cls.dimensions and (variants is None or variants > 0):
            items += [(cls, variant) for variant in sample(cls, variants, seed)]
    return items


def responder_for(session: LabSession, monitor: Monitor, options: RunOptions) -> Responder | None:
    """``--respond``: a responder with the run's auto playbooks and an event window on the monitor."""
    if not options.playbooks:
        return None
    from harness.response.window import EventWindow

    window = EventWindow()
    monitor.add_tap(window.tap)
    evidence = options.evidence_dir or session.paths.runtime / "evidence" / session.run_id
    return Responder(session, options.playbooks, window, evidence, packets=packet_ring(monitor))


def run_all(scenarios: Sequence[type[Scenario]], session: LabSession, monitor: Monitor,
            options: RunOptions, responder: Responder | None = None) -> list[Outcome]:
    items = work_items(scenarios, options.variants, options.seed)
    blindspots = blindspots_of(options.rule_dirs) if any(v is not None for _, v in items) else {}
    total = len(items)
    order = {_item_id(item): i for i, item in enumerate(items)}
    done: list[Outcome] = []
    counter = iter(range(1, total + 1))
    lock = threading.Lock()
    cpu_turn = threading.Semaphore(1)  # Scenario.cpu_bound: one at a time

    def one(item: Work) -> Outcome:
        cls, variant = item
        with cpu_turn if cls.cpu_bound else contextlib.nullcontext():
            with lock:
                n = next(counter)
            options.progress(f"[{n}/{total}] {_item_id(item)}: detonating ({cls.kind.value})")
            outcome = execute(cls, session, monitor, scenario_backend(options.backend), options.progress, variant,
                              responder)
        _note_known_blind_spot(outcome, blindspots)
        options.progress(f"[{n}/{total}] {_item_id(item)}: {outcome.verdict.value} - {outcome.reason}")
        return outcome

    parallel = [item for item in items if item[0].parallel_safe]
    serial = [item for item in items if not item[0].parallel_safe]
    if parallel:
        with ThreadPoolExecutor(max_workers=max(1, options.parallel), thread_name_prefix="scenario") as pool:
            done.extend(pool.map(one, parallel))
    for item in serial:
        done.append(one(item))
    return sorted(done, key=lambda o: order[o.scenario_id])


def _note_known_blind_spot(outcome: Outcome, blindspots: Mapping[str, Sequence[str]]) -> None:
    """A variant that missed only where its rule's documented blind spot says: a known gap, said so."""
    if not outcome.variant_of or outcome.verdict is not Verdict.MISSED or outcome.unlisted_collateral:
        return
    named = naming_blind_spot(outcome, [r.rule_id for r in outcome.rules if not r.fired], blindspots)
    if named is not None:
        outcome.known_blind_spot = f"{named[0]}: {named[1]}"
        outcome.reason += f" (a documented blind spot of {named[0]})"


def _item_id(item: Work) -> str:
    cls, variant = item
    return cls.id if variant is None else variant_id(cls, variant)


@contextlib.contextmanager
def _shared_state_turn(session: LabSession, cls: type[Scenario], progress: Progress) -> Iterator[None]:
    """A scenario that is not parallel-safe changes state every run on the engine shares (the
    engine's config, node labels). It runs alone within its run, and takes this host-wide lock so
    that it never overlaps another run's shared-state scenario either."""
    if cls.parallel_safe:
        yield
        return
    session.paths.runtime.mkdir(parents=True, exist_ok=True)
    with open(session.paths.runtime / "shared-state.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"    {cls.id}: waiting for another run's shared-state scenario to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def execute(cls: type[Scenario], session: LabSession, monitor: Monitor, backend: str,
            progress: Progress = _stderr, variant: Variant | None = None,
            responder: Responder | None = None) -> Outcome:
    with _shared_state_turn(session, cls, progress):
        return _execute(cls, session, monitor, backend, progress, variant, responder)


def _execute(cls: type[Scenario], session: LabSession, monitor: Monitor, backend: str,
             progress: Progress, variant: Variant | None = None, responder: Responder | None = None) -> Outcome:
    outcome = Outcome(scenario_id=cls.id if variant is None else variant_id(cls, variant), title=cls.title,
                      kind=cls.kind.value, techniques=list(cls.techniques), backend=backend, verdict=Verdict.ERROR,
                      reason="", started_at=time.time(), variant_of=None if variant is None else cls.id,
                      variant=dict(variant if variant is not None else canonical(cls)))
    if backend not in cls.backends:
        outcome.verdict, outcome.reason = Verdict.SKIPPED, f"does not support the {backend} backend"
        outcome.finished_at = time.time()
        return outcome
    lab = session.scope(f"{cls.id}-{int(time.time() * 1000) % 100000}")
    scenario = cls()
    if variant is not None:
        scenario.variant = variant
    # A scenario may run at a chosen calendar moment (seasonal baselines); it runs alone, and the
    # detectors' clock is restored whatever happens.
    clock = CLOCK.simulated(cls.simulated_time) if cls.simulated_time else contextlib.nullcontext()
    try:
        with clock:
            scenario.detonate(lab)
            outcome.action_at = lab.actions[0].at if lab.actions else lab.started_at
            _judge(cls, lab, monitor, outcome, progress, responder)
    except ScenarioSkipped as exc:
        outcome.verdict, outcome.reason = Verdict.SKIPPED, str(exc) or "skipped by the scenario"
    except (LabError, Exception) as exc:  # any failure is this scenario's error, not the run's
        outcome.verdict, outcome.reason = Verdict.ERROR, f"{type(exc).__name__}: {exc}"
    finally:
        failures: list[str] = []
        try:
            scenario.revert(lab)
        except Exception as exc:
            failures.append(f"revert: {exc}")
        failures.extend(lab.unwind())
        if failures:
            outcome.verdict = Verdict.ERROR
            outcome.reason += f" (cleanup failed: {'; '.join(failures)})"
        outcome.objects = lab.object_refs()
        outcome.finished_at = time.time()
    return outcome


COLLATERAL_SETTLE_S = 2.0


def _wait(predicate: Callable[[], bool], until: float) -> None:
    poll(predicate, until - time.time(), 0.1, clock=time.time)


def _judge(cls: type[Scenario], lab: Lab, monitor: Monitor, outcome: Outcome, progress: Progress,
           responder: Responder | None = None) -> None:
    """Wait for the scenario's deadline or window, then hand what was attributed to the pure judge."""
    expect = cls.expect
    action_at = outcome.action_at or lab.started_at

    def attributed() -> list[Alert]:
        return monitor.alerts_for(lab.object_refs(), since=lab.started_at)

    responded_at: float | None = None

    if cls.kind is Kind.ADVERSARY:
        wanted = set(expect.fires)
        if not wanted <= {a.rule_id for a in attributed()}:
            progress(f"    {cls.id}: waiting up to {expect.within_s:.0f}s for {', '.join(sorted(wanted))}")
        _wait(lambda: wanted <= {a.rule_id for a in attributed()}, action_at + expect.within_s)
        if responder is not None:  # the detection is decided: the response cannot change it
            responded_at = time.time()
            outcome.response = responder.respond(attributed(), lab.planted, lab.object_refs(), lab.started_at)
            if outcome.response is not None:
                r = outcome.response
                progress(f"    {cls.id}: {r.playbook}: {r.action}, {'proved' if r.passed else 'NOT proved'}")
        # Every alert is judged, collateral too: the rules that fire on the same activity arrive
        # together, give or take the sensors' latency; a short settle keeps the judgement from
        # depending on which of them the monitor happened to raise first.
        time.sleep(COLLATERAL_SETTLE_S)
    else:
        progress(f"    {cls.id}: watching {expect.window_s:.0f}s for alerts that must not come")
        _wait(lambda: False, action_at + expect.window_s)
    alerts = attributed()
    if responded_at is not None:  # what the response itself set off (its probes) is not the attack's
        alerts = [a for a in alerts if a.first_seen < responded_at]
    outcome.alerts = [a.to_dict() for a in alerts]
    outcome.data_sources = sorted(monitor.sources_for(lab.object_refs()))
    verdict = judge(cls.kind, expect, alerts, action_at, outcome.data_sources)
    outcome.verdict, outcome.reason, outcome.visibility = verdict.verdict, verdict.reason, verdict.visibility
    outcome.latency_s = verdict.latency_s
    outcome.rules = list(verdict.rules)
    outcome.collateral = list(verdict.collateral)
