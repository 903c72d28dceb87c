"""`stowaway watch`: the embedded detectors as a monitoring tool, with no scenario running.

Sensors, policy enrichment, Sigma rules and analytics run against a live engine, and every alert
goes to stdout as one JSON line (stderr carries status), so the stream pipes into jq, a file, or a
log shipper. It stops on SIGINT, SIGTERM or after ``duration`` seconds. On the private engine it
holds its own lease, so the engine stays up while it watches and no run's teardown stops it.

Each alert line carries ``id``, its number in this watch: ``stowaway respond ID`` asks the watch,
over its control socket (``harness.watch_control``), to respond to it as a playbook says, and
``stowaway release OBJECT`` to give a contained workload back (``harness.response.on_request``).
The watch keeps the recent events of every container for that (``EventWindow``, bounded), and
releases whatever it still holds contained when it stops. It also keeps the most recent raw events
(``harness.triage.live``): ``--triage`` puts each alert's triage context (``explain-alert``'s sections)
on its line, and ``stowaway explain-alert --live ID`` asks for one.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from detectors.alert import Alert
from harness.monitoring import build_monitor, packet_ring
from harness.response.live import LiveSession
from harness.response.on_request import OnRequest
from harness.response.playbooks import Playbook
from harness.response.window import EventWindow
from harness.triage.live import LiveEvents
from harness.watch_control import ControlServer, socket_path
from lab import LabPaths, RunRecord, new_run_id
from lab import engine as engine_mod


def _base_image(engine: engine_mod.Engine) -> str | None:
    """The lab's base image, when the engine has it: what holds a quarantined container's addresses."""
    from lab import ImageRecipe

    tag = ImageRecipe().tag
    try:
        engine.client.api.inspect_image(tag)
    except Exception:  # not built on this engine: addresses are not held (the record says so)
        return None
    return tag


WINDOW_EVENTS, WINDOW_CONTAINERS = 500, 200  # per container, containers: a long watch stays near 100 MB


def watch(rule_dirs: Sequence[Path] = (), policy_dirs: Sequence[Path] = (), docker_host: str | None = None,
          duration: float | None = None, out: TextIO | None = None, paths: LabPaths | None = None,
          playbooks: Sequence[Playbook] = (), evidence_dir: Path | None = None, with_triage: bool = False) -> int:
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

    window = EventWindow(max_events=WINDOW_EVENTS, max_containers=WINDOW_CONTAINERS)
    evidence = evidence_dir or paths.state / "evidence" / record.run_id
    events = LiveEvents(paths, record.run_id)
    on_request = OnRequest(LiveSession(engine, paths, record.run_id, hold_image=_base_image(engine)), playbooks,
                           window, evidence, started_at=record.started_at, events=events)
    pending: queue.SimpleQueue[tuple[int, Alert] | None] = queue.SimpleQueue()

    def write(line: dict[str, object]) -> None:
        nonlocal count
        with lock:
            count += 1
            out.write(json.dumps(line, sort_keys=True, default=str) + "\n")
            out.flush()

    def emit(alert: Alert) -> None:
        number = on_request.number(alert)
        if with_triage:  # computed off the engine's thread, written in the order raised
            pending.put((number, alert))
        else:
            write({"id": number, **alert.to_dict()})

    def explain_each() -> None:
        while (item := pending.get()) is not None:
            number, alert = item
            line: dict[str, object] = {"id": number, **alert.to_dict()}
            try:
                found = on_request.explain(alert)
                line["triage"] = found.to_dict() if found is not None else None
            except Exception as exc:  # the alert still goes out, with why it has no triage
                line["triage_error"] = f"{type(exc).__name__}: {exc}"
            write(line)

    explainer = threading.Thread(target=explain_each, name="watch-triage", daemon=True)
    explainer.start()

    monitor = None
    control = ControlServer(socket_path(paths, record.run_id), on_request.handle)
    try:
        monitor = build_monitor(engine, rule_dirs, policy_dirs, run_id=record.run_id)
        monitor.engine.subscribe(emit)
        monitor.add_tap(window.tap)
        monitor.add_tap(events.tap)
        on_request.responder.packets = packet_ring(monitor)
        monitor.start()
        control.start()
        rules = len(monitor.engine.rules)
        analytics = len(monitor.engine.analytics)
        health = monitor.health()
        sensors = ", ".join(h.name for h in health if h.healthy)
        until = "" if duration is None else f" for {duration:g}s"
        print(f"watching {engine.base_url}{until}: {rules} Sigma rule(s), {analytics} analytic(s), "
              f"sensors {sensors}; alerts go to stdout as JSON lines, Ctrl-C stops", file=sys.stderr, flush=True)
        print(f"watch {record.run_id}: `stowaway respond ID` contains an alert's workload, `stowaway release "
              f"OBJECT` gives it back; evidence goes to {evidence}", file=sys.stderr, flush=True)
        for sick in (h for h in health if not h.healthy):  # the others run without it
            print(f"sensor {sick.name} {sick.state}: {sick.reason}", file=sys.stderr, flush=True)
        deadline = None if duration is None else time.monotonic() + duration
        while not stop.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            stop.wait(0.5 if remaining is None else min(0.5, remaining))
    finally:
        control.stop()
        if monitor is not None:
            monitor.stop()
        pending.put(None)  # every alert raised is written before the watch says it stopped
        explainer.join(timeout=60)
        for said in on_request.close():  # nothing stays contained after the watch
            print(f"watch: {said}", file=sys.stderr, flush=True)
        window.close()
        engine_mod.release(engine, lease)
        record.status, record.finished_at = "complete", time.time()
        record.save(paths)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    seen = monitor.engine.counters.events if monitor is not None else 0
    print(f"stopped: {seen} event(s) seen, {count} alert(s) raised", file=sys.stderr, flush=True)
    return 0
