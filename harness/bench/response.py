"""Time from alert to contained, on Docker and Swarm: the responder acting on the first alert it is given.

Each repetition is a fresh container on the LAN and the lab internet that opens a connection to the
lab internet (``stowaway.net.egress-not-allowlisted`` fires on it); as soon as the alert is raised,
the shipped ``contain-egress`` playbook's responder quarantines the container. The figure is the
containment record's time (the container off its last network) minus the alert's ``raised_at``: what
a responder that acts on an alert costs, without ``run --respond``'s wait for a scenario's every
expected rule. The responder then proves the containment, collects the evidence and releases, as in
a run; a repetition whose response did not prove itself counts as infinitely slow.

On Swarm, each repetition updates a fresh service to log nowhere (the drift analytic fires on the
service), and the contain-rogue-workload playbook freezes whatever task of it runs, then holds the
service on no node, so no task of the drifted spec starts: the figure is the freeze (or, when no task
ran at that moment, the hold) minus the alert. Kubernetes's row
(``response.time-to-contain.kubernetes.p95``) comes from the bench's cluster step (cluster.py),
which has the kind cluster up already.
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
from lab import Lab, LabSession, Logging, WorkloadSpec, poll

Progress = Callable[[str], None]
RULE = "stowaway.net.egress-not-allowlisted"
TARGET_S = 2.0
SWARM_RULE = "stowaway.analytic.swarm-service-drift"


Trigger = Callable[[Lab, Monitor], list[Alert]]  # act in a fresh scope; the alerts to respond to


def _repeat(session: LabSession, monitor: Monitor, playbook: str, trigger: Trigger, repetitions: int,
            progress: Progress, label: str) -> tuple[list[float], int]:
    """(seconds from alert to contained, repetitions that failed) over fresh scopes, the shipped
    ``playbook`` acting on what ``trigger`` raised."""
    playbooks = [p for p in load_playbooks(detector_ids=known_detector_ids()) if p.name == playbook]
    window = EventWindow()
    monitor.add_tap(window.tap)
    samples: list[float] = []
    failed = 0
    try:
        with tempfile.TemporaryDirectory(prefix="stowaway-bench-evidence-") as evidence:
            responder = Responder(session, playbooks, window, Path(evidence), packets=packet_ring(monitor))
            for i in range(repetitions):
                lab = session.scope(f"bench-respond-{label}-{i}")
                try:
                    hits = trigger(lab, monitor)
                    result = responder.respond(hits, [], lab.object_refs(), lab.started_at) if hits else None
                    if result is None or not result.passed or result.time_to_contain_s is None:
                        failed += 1
                        progress(f"bench: respond {label} {i}: {'no alert' if not hits else result}")
                    else:
                        samples.append(result.time_to_contain_s)
                finally:
                    for failure in lab.unwind():
                        progress(f"bench: cleanup of {lab.scope} failed: {failure}")
    finally:
        window.close()
    progress(f"bench: {label} time to contain: {len(samples)} contained, {failed} failed")
    return samples, failed


def _egress(lab: Lab, monitor: Monitor) -> list[Alert]:
    app = lab.deploy(WorkloadSpec(role="reports", networks=("lan", "inet")))
    time.sleep(1.0)  # the packet sensor's inventory learns the container's addresses
    lab.action("open a connection to an outside endpoint")
    lab.exec(app, "sh", "-c", f"echo hello | nc -w 2 -q 1 {lab.sinkhole.address} 8080", check=False, detach=True)
    return _wait_for(monitor, lab, RULE, 15.0)


def _drift(lab: Lab, monitor: Monitor) -> list[Alert]:
    lab.swarm_networks()
    web = lab.deploy(WorkloadSpec(role="web", command=("sleep", "600")), backend="swarm")
    lab.action("update the service to log nowhere")
    lab.update_service(web, logging=Logging(driver="none"))
    # Acted on at once: whatever task runs is frozen, and the held service starts no task of the
    # drifted spec (the rollout replaces the task some seconds later).
    return _wait_for(monitor, lab, SWARM_RULE, 30.0)


def time_to_contain(session: LabSession, monitor: Monitor, repetitions: int,
                    progress: Progress) -> tuple[list[float], int]:
    """Docker: a container calling out, quarantined by contain-egress."""
    return _repeat(session, monitor, "contain-egress", _egress, repetitions, progress, "docker")


def swarm_time_to_contain(session: LabSession, monitor: Monitor, repetitions: int,
                          progress: Progress) -> tuple[list[float], int]:
    """Swarm: a service updated to log nowhere (a drift of an undeclared service), its running task
    frozen and the service held on no node by contain-rogue-workload."""
    return _repeat(session, monitor, "contain-rogue-workload", _drift, repetitions, progress, "swarm")


def _wait_for(monitor: Monitor, lab: Lab, rule_id: str, timeout_s: float) -> list[Alert]:
    def found() -> list[Alert]:
        return [a for a in monitor.alerts_for(lab.object_refs(), since=lab.started_at) if a.rule_id == rule_id]

    return poll(found, timeout_s, 0.02) or []


def _figure(name: str, measure: str, values: list[float], failed: int, repetitions: int) -> Figure:
    samples = values + [float("inf")] * failed
    return Figure(name, measure, percentile(samples, 95) if samples else None, TARGET_S, "<=", "s",
                  detail={"repetitions": repetitions, "contained": len(values), "failed": failed,
                          "p50": percentile(values, 50) if values else None, "max": max(values, default=None),
                          "samples": [round(v, 4) for v in values]},
                  skipped="" if samples else "no repetition ran")


def figures(session: LabSession, monitor: Monitor, repetitions: int, progress: Progress) -> list[Figure]:
    values, failed = time_to_contain(session, monitor, repetitions, progress)
    out = [_figure("response.time-to-contain.docker.p95",
                   f"time from the alert ({RULE}) to the container off every network (contain-egress), Docker, p95",
                   values, failed, repetitions)]
    swarm_reps = max(1, repetitions // 2)  # each one deploys, drifts, holds and gives back a service
    values, failed = swarm_time_to_contain(session, monitor, swarm_reps, progress)
    out.append(_figure("response.time-to-contain.swarm.p95",
                       f"time from the alert ({SWARM_RULE}) to the service's task frozen (contain-rogue-workload, "
                       "then held on no node), Swarm, p95", values, failed, swarm_reps))
    return out
