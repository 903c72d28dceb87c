"""Time from alert to contained, on Docker: the responder acting on the first alert it is given.

Each repetition is a fresh container on the LAN and the lab internet that opens a connection to the
lab internet (``stowaway.net.egress-not-allowlisted`` fires on it); as soon as the alert is raised,
the shipped ``contain-egress`` playbook's responder quarantines the container. The figure is the
containment record's time (the container off its last network) minus the alert's ``raised_at``: what
a responder that acts on an alert costs, without ``run --respond``'s wait for a scenario's every
expected rule. The responder then proves the containment, collects the evidence and releases, as in
a run; a repetition whose response did not prove itself counts as infinitely slow.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from detectors.alert import Alert
from detectors.engine import Monitor
from harness.bench.report import Figure, percentile
from harness.monitoring import known_detector_ids, packet_ring
from harness.response.playbooks import load_playbooks
from harness.response.responder import Responder
from harness.response.window import EventWindow
from lab import Lab, LabSession, WorkloadSpec, poll

Progress = Callable[[str], None]
RULE = "stowaway.net.egress-not-allowlisted"
TARGET_S = 2.0


def time_to_contain(session: LabSession, monitor: Monitor, repetitions: int,
                    progress: Progress) -> tuple[list[float], int]:
    """(seconds from alert to contained, repetitions that failed) over fresh containers."""
    playbooks = [p for p in load_playbooks(detector_ids=known_detector_ids()) if p.name == "contain-egress"]
    window = EventWindow()
    monitor.add_tap(window.tap)
    samples: list[float] = []
    failed = 0
    try:
        with tempfile.TemporaryDirectory(prefix="stowaway-bench-evidence-") as evidence:
            responder = Responder(session, playbooks, window, Path(evidence), packets=packet_ring(monitor))
            for i in range(repetitions):
                lab = session.scope(f"bench-respond-{i}")
                try:
                    app = lab.deploy(WorkloadSpec(role="reports", networks=("lan", "inet")))
                    time.sleep(1.0)  # the packet sensor's inventory learns the container's addresses
                    lab.action("open a connection to an outside endpoint")
                    lab.exec(app, "sh", "-c", f"echo hello | nc -w 2 -q 1 {lab.sinkhole.address} 8080",
                             check=False, detach=True)
                    hits = _wait_alerts(monitor, lab)
                    result = responder.respond(hits, [], lab.object_refs(), lab.started_at) if hits else None
                    if result is None or not result.passed or result.time_to_contain_s is None:
                        failed += 1
                        progress(f"bench: respond {i}: {'no alert' if not hits else result}")
                    else:
                        samples.append(result.time_to_contain_s)
                finally:
                    for failure in lab.unwind():
                        progress(f"bench: cleanup of {lab.scope} failed: {failure}")
    finally:
        window.close()
    progress(f"bench: time to contain: {len(samples)} contained, {failed} failed")
    return samples, failed


def _wait_alerts(monitor: Monitor, lab: Lab) -> list[Alert]:
    def found() -> list[Alert]:
        return [a for a in monitor.alerts_for(lab.object_refs(), since=lab.started_at) if a.rule_id == RULE]

    return poll(found, 15.0, 0.02) or []


def figures(session: LabSession, monitor: Monitor, repetitions: int, progress: Progress) -> list[Figure]:
    values, failed = time_to_contain(session, monitor, repetitions, progress)
    samples = values + [float("inf")] * failed
    return [Figure(
        "response.time-to-contain.docker.p95",
        f"time from the alert ({RULE}) to the container off every network (contain-egress), Docker, p95",
        percentile(samples, 95) if samples else None, TARGET_S, "<=", "s",
        detail={"repetitions": repetitions, "contained": len(values), "failed": failed,
                "p50": percentile(values, 50) if values else None, "max": max(values, default=None),
                "samples": [round(v, 4) for v in values]},
        skipped="" if samples else "no repetition ran")]
