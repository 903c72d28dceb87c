"""Detection latency, measured the way the runner measures it: from the action's recorded time to the
alert's ``raised_at``, for one event-driven detector per kind of sensor and for the resource analytic.

Each repetition is a fresh container, so the engine's per-(rule, object) dedup never hides a
repetition; the container is deployed (and given a moment to be known to the sensors) before the
action, so only the action itself is timed. Everything goes through ``Lab`` scopes and is unwound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from detectors.alert import Alert
from detectors.engine import Monitor
from harness.bench.report import Figure, percentile
from lab import Lab, LabSession, Logging, Workload, WorkloadSpec, poll

Progress = Callable[[str], None]
Handle = TypeVar("Handle")


@dataclass(frozen=True, slots=True)
class Probe(Generic[Handle]):
    key: str  # figure name part: "docker-events"
    sensor: str  # the sensor kind it exercises, in words
    rule_id: str
    prepare: Callable[[Lab], Handle]  # deploy what the action needs (not timed); returns a handle
    act: Callable[[Lab, Handle], None]  # the action (timed from lab.action)
    timeout_s: float = 15.0


def _docker_prepare(lab: Lab) -> None:
    return None


def _docker_act(lab: Lab, _: None) -> None:
    lab.action("start a container with the log driver none")
    lab.deploy(WorkloadSpec(role="batch", logging=Logging(driver="none")))


def _exec_prepare(lab: Lab) -> Workload:
    worker = lab.deploy(WorkloadSpec(role="worker"))
    lab.exec(worker, "cp", "/bin/true", "/tmp/.cache-helper")
    time.sleep(1.0)  # the exec sensor attributes by the container directory: let it learn the container
    return worker


def _exec_act(lab: Lab, worker: Workload) -> None:
    lab.action("run a program from /tmp")
    lab.exec(worker, "/tmp/.cache-helper")


def _flow_prepare(lab: Lab) -> Workload:
    app = lab.deploy(WorkloadSpec(role="reports", networks=("lan", "inet")))
    time.sleep(1.0)  # the packet sensor's inventory learns the container's addresses from engine events
    return app


def _flow_act(lab: Lab, app: Workload) -> None:
    lab.action("open a connection to an outside endpoint")
    lab.exec(app, "sh", "-c", f"echo hello | nc -w 2 -q 1 {lab.sinkhole.address} 8080", check=False, detach=True)


PROBES: tuple[Probe[Any], ...] = (
    Probe("docker-events", "Docker events", "stowaway.docker.logging-disabled", _docker_prepare, _docker_act),
    Probe("tracefs-exec", "kernel tracepoint (sched_process_exec)", "stowaway.host.exec-from-temp-dir",
          _exec_prepare, _exec_act),
    Probe("packets", "packet capture on the lab bridges", "stowaway.net.egress-not-allowlisted",
          _flow_prepare, _flow_act),
)

BURN = ("python3", "-c", "import hashlib, os, time\nos.fork()\nend = time.time() + {s}; h = b'x'\n"
        "while time.time() < end: h = hashlib.sha256(h).digest()\n")


def _wait_alert(monitor: Monitor, lab: Lab, rule_id: str, since: float, timeout_s: float) -> Alert | None:
    hits = poll(lambda: [a for a in monitor.alerts_for(lab.object_refs(), since=since) if a.rule_id == rule_id],
                timeout_s, 0.02)
    return min(hits, key=lambda a: a.raised_at) if hits else None


@dataclass(slots=True)
class ProbeResult:
    latencies: list[float]  # action -> alert raised, per repetition that alerted
    misses: int  # repetitions with no alert in time
    # sensor timestamp of the evidence -> alert raised: the detector's own share of each latency (the
    # rest is the platform's: the engine creating the container before it reports the event).
    detector_own: list[float]


def run_probe(session: LabSession, monitor: Monitor, probe: Probe, repetitions: int,
              progress: Progress) -> ProbeResult:
    """Latencies over ``repetitions`` fresh scopes."""
    result = ProbeResult([], 0, [])
    for i in range(repetitions):
        lab = session.scope(f"bench-{probe.key}-{i}")
        try:
            handle = probe.prepare(lab)
            probe.act(lab, handle)
            action_at = lab.actions[0].at
            alert = _wait_alert(monitor, lab, probe.rule_id, lab.started_at, probe.timeout_s)
            if alert is None:
                result.misses += 1
            else:
                result.latencies.append(max(0.0, alert.raised_at - action_at))
                result.detector_own.append(max(0.0, alert.raised_at - alert.first_seen))
        finally:
            for failure in lab.unwind():
                progress(f"bench: cleanup of {lab.scope} failed: {failure}")
    progress(f"bench: {probe.key}: {len(result.latencies)} alerts, {result.misses} missed")
    return result


def resource_latency(session: LabSession, monitor: Monitor, repetitions: int, progress: Progress,
                     burn_s: int = 25) -> tuple[list[float], int]:
    """From the moment a CPU burn starts in an idle container to the cpu-spike analytic's alert."""
    latencies: list[float] = []
    misses = 0
    for i in range(repetitions):
        lab = session.scope(f"bench-resources-{i}")
        try:
            worker = lab.deploy(WorkloadSpec(role="worker"))
            time.sleep(2.5)  # idle samples first, so the spike has a clear onset
            command = (BURN[0], BURN[1], BURN[2].format(s=burn_s))
            lab.action("start a CPU burn")
            lab.exec(worker, *command, detach=True)
            alert = _wait_alert(monitor, lab, "stowaway.analytic.cpu-spike", lab.started_at, burn_s)
            if alert is None:
                misses += 1
            else:
                latencies.append(max(0.0, alert.raised_at - lab.actions[0].at))
        finally:
            for failure in lab.unwind():
                progress(f"bench: cleanup of {lab.scope} failed: {failure}")
    progress(f"bench: resources: {len(latencies)} alerts, {misses} missed")
    return latencies, misses


def detector_share(measured: ProbeResult) -> dict[str, object]:
    """The detector's own p95 (evidence timestamp to alert), beside the action-to-alert figure."""
    own = measured.detector_own
    return {"detector_own_p95": round(percentile(own, 95), 4) if own else None,
            "detector_own_samples": [round(v, 4) for v in own]}


def figures(session: LabSession, monitor: Monitor, repetitions: int, resource_repetitions: int,
            progress: Progress) -> list[Figure]:
    out = []
    for probe in PROBES:
        measured = run_probe(session, monitor, probe, repetitions, progress)
        values, misses = measured.latencies, measured.misses
        # A repetition that raised no alert is the worst latency there is: it counts as infinite.
        samples = values + [float("inf")] * misses
        out.append(Figure(
            f"latency.{probe.key}.p95", f"detection latency p95, {probe.sensor} ({probe.rule_id})",
            percentile(samples, 95) if samples else None, 1.0, "<=", "s",
            detail={"repetitions": repetitions, "alerts": len(values), "no_alert": misses,
                    "p50": percentile(values, 50) if values else None, "max": max(values, default=None),
                    "samples": [round(v, 4) for v in values], **detector_share(measured)},
            skipped="" if samples else "no repetition ran"))
    values, misses = resource_latency(session, monitor, resource_repetitions, progress)
    out.append(Figure(
        "latency.resource-anomaly.max", "detection latency from CPU spike onset (stowaway.analytic.cpu-spike), worst",
        max(values + [float("inf")] * misses) if values or misses else None, 10.0, "<=", "s",
        detail={"repetitions": resource_repetitions, "alerts": len(values), "no_alert": misses,
                "p50": percentile(values, 50) if values else None, "samples": [round(v, 3) for v in values]},
        skipped="" if values or misses else "no repetition ran"))
    return out
