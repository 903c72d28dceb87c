"""Scale on the multi-node kind cluster: the node agent's cost with 100 pods per worker, and scenarios
detonated at once beside them.

The run's own kind cluster (one control plane, two workers) with the detectors' node agent on every
node. A Deployment of idle pods (the base image's ``sleep infinity``, 16 MiB limit) fills each
worker to ``PODS_PER_WORKER`` pods, the node's own (kube-proxy, the agent) included. The agent's
CPU is what it says of itself on the wire (user and system time of its process and the ``crictl``
calls it waited for, from ``os.times``), taken over a window on each worker: the cost a node's owner
pays, measured by the kernel, not estimated. Then the pod-based scenarios the agent detects run
together at ``PARALLEL`` beside the idle pods, and each must be detected. Last, the scenarios the
shipped auto playbooks act on run with the responder on (``run --respond``): each detected pod is
held (labelled, fenced by a NetworkPolicy, its containers frozen on its node, its node cordoned for an
escape), proved, its evidence collected, and released. The figure is the hold's time (containment
record) minus the alert's, at the 95th percentile; a response that did not prove itself counts as
infinitely slow. The issue sets a target for Docker only (2 s); the cluster's is 5 s, since a hold
takes three API requests and a containerd call through the node.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.bench.report import Figure, percentile
from harness.monitoring import add_cluster_sensors, build_monitor, known_detector_ids
from harness.outcome import Outcome, Verdict
from harness.response.playbooks import load_playbooks
from harness.runner import RunOptions, responder_for, run_all
from lab import LabSession
from scenarios.registry import load

Progress = Callable[[str], None]
PODS_PER_WORKER = 100
PARALLEL = 3
# The scenarios whose detections come from the agent's sensors on a worker.
AGENT_SCENARIOS = ("docker.masquerade.deleted-executable", "docker.fim.authorized-keys", "docker.fim.cron-entry",
                   "docker.fim.passwd-account", "docker.fim.ld-preload", "docker.logging.log-file-wiped")
IDLE_TIMEOUT_S = 900
# Pod scenarios an auto playbook acts on: a payload run from /tmp, escapes, egress.
RESPONSE_SCENARIOS = ("docker.masquerade.deleted-executable", "docker.masquerade.tmp-kworker",
                      "kubernetes.deploy.privileged-pod", "kubernetes.deploy.hostpath-pod",
                      "kubernetes.deploy.host-pid-pod", "kubernetes.escape.nsenter-node",
                      "kubernetes.logging.devnull-output", "kubernetes.network.nat-redirect")
CONTAIN_TARGET_S = 5.0


def _idle_deployment(image: str, replicas: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "idle"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "idle", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"terminationGracePeriodSeconds": 1, "automountServiceAccountToken": False,
                         "enableServiceLinks": False,
                         "containers": [{"name": "idle", "image": image, "imagePullPolicy": "IfNotPresent",
                                         "command": ["sleep", "infinity"],
                                         "resources": {"requests": {"cpu": "1m", "memory": "4Mi"},
                                                       "limits": {"memory": "16Mi"}}}]}}}}


def _pods_per_node(backend: Any) -> dict[str, int]:
    pods = json.loads(backend.run("get", "pods", "-A", "-o", "json", timeout=120).stdout).get("items", [])
    counts: dict[str, int] = {}
    for pod in pods:
        if (pod.get("status") or {}).get("phase") == "Running":
            node = (pod.get("spec") or {}).get("nodeName", "")
            counts[node] = counts.get(node, 0) + 1
    return counts


def _agent_cpu(stream: Any, nodes: list[str], seconds: float) -> dict[str, dict[str, float]]:
    """Each node's agent CPU over a window: cores, from its first and last usage report in it."""
    time.sleep(seconds)
    out = {}
    for node in nodes:
        reports = [u for u in stream.usage.get(node, []) if u.get("monotonic_s", 0) > 0]
        window = [u for u in reports if reports and u["monotonic_s"] >= reports[-1]["monotonic_s"] - seconds]
        if len(window) < 2:
            continue
        first, last = window[0], window[-1]
        wall = last["monotonic_s"] - first["monotonic_s"]
        if wall > 0:
            out[node] = {"cores": round((last["cpu_s"] - first["cpu_s"]) / wall, 4), "seconds": round(wall, 1),
                         "rss_bytes": last["rss_bytes"]}
    return out


def figures(progress: Progress, seconds: float = 60) -> list[Figure]:
    os.environ.setdefault("STOWAWAY_AGENT_HEALTH_S", "5")  # the agents report their usage every 5 s here
    session = LabSession(backend="kind")
    monitor = None
    status = "aborted"
    try:
        progress(f"bench: kind cluster for run {session.run_id} coming up (three nodes, the node agent)")
        session.up()
        monitor = build_monitor(session.engine, run_id=session.run_id)
        add_cluster_sensors(monitor, session, progress)
        monitor.start()
        backend: Any = session.backend
        stream = next(s for s in monitor.sensors if s.name == "node-agent")
        workers = [n for n in backend.cluster.nodes if "worker" in n]
        base = _pods_per_node(backend)
        replicas = sum(max(0, PODS_PER_WORKER - base.get(w, 0)) for w in workers)
        progress(f"bench: {replicas} idle pods to fill {len(workers)} workers to {PODS_PER_WORKER} pods each")
        t0 = time.monotonic()
        backend.apply(_idle_deployment(session.image, replicas))
        backend.run("rollout", "status", "deployment/idle", "-n", "default", f"--timeout={IDLE_TIMEOUT_S}s",
                    timeout=IDLE_TIMEOUT_S + 30)
        ready_s = time.monotonic() - t0
        counts = _pods_per_node(backend)
        progress(f"bench: pods per node {counts} ({ready_s:.0f}s to roll out); agent CPU over {seconds:.0f}s")
        time.sleep(15)  # the agent learns the new containers (one crictl call each) before the window
        cpu = _agent_cpu(stream, workers, seconds)
        busiest = max((v["cores"] for v in cpu.values()), default=None)
        found = [Figure("cluster.agent-cpu-per-node", f"node agent CPU on the busiest worker, {PODS_PER_WORKER} "
                        f"pods per worker, over {seconds:.0f}s (the agent's own report: os.times)",
                        None if busiest is None else round(busiest * 100, 2), 10.0, "<=", "% of one core",
                        detail={"per_node": cpu, "pods_per_node": counts, "rollout_s": round(ready_s, 1)},
                        skipped="" if busiest is not None else "no usage report came from the workers' agents")]
        scenarios = [load().get(i) for i in AGENT_SCENARIOS]
        progress(f"bench: {len(scenarios)} pod scenarios at once (parallel {PARALLEL}) beside the idle pods")
        t0 = time.monotonic()
        outcomes = run_all(scenarios, session, monitor, RunOptions(backend="kind", parallel=PARALLEL,
                                                                   progress=progress))
        wall = time.monotonic() - t0
        detected = [o for o in outcomes if o.verdict is Verdict.DETECTED]
        latencies = sorted(o.latency_s for o in detected if o.latency_s is not None)
        found.append(Figure("cluster.parallel-detected", f"pod scenarios detected through the node agent, "
                            f"{len(scenarios)} at parallel {PARALLEL} beside {PODS_PER_WORKER} pods per worker",
                            len(detected), len(scenarios), ">=", "scenarios",
                            detail={"wall_s": round(wall, 1), "latency_s": latencies,
                                    "verdicts": {o.scenario_id: o.verdict.value for o in outcomes}}))
        found.append(_contain(session, monitor, progress))
        status = "complete"
        return found
    finally:
        if monitor is not None:
            monitor.stop()
        for problem in session.down(status=status):
            progress(f"bench: cluster teardown: {problem}")


def _contain(session: LabSession, monitor: Any, progress: Progress) -> Figure:
    scenarios = [load().get(i) for i in RESPONSE_SCENARIOS]
    playbooks = [p for p in load_playbooks(detector_ids=known_detector_ids()) if p.mode == "auto"]
    progress(f"bench: {len(scenarios)} pod scenarios with the auto playbooks on (time to contain)")
    with tempfile.TemporaryDirectory(prefix="stowaway-bench-evidence-") as evidence:
        options = RunOptions(backend="kind", parallel=PARALLEL, progress=progress, playbooks=playbooks,
                             evidence_dir=Path(evidence))
        outcomes = run_all(scenarios, session, monitor, options, responder_for(session, monitor, options))
    samples, failed = _contain_samples(outcomes)
    return Figure("response.time-to-contain.kubernetes.p95",
                  f"alert to pod held (labelled, fenced, frozen on its node), {len(scenarios)} pod scenarios at "
                  f"parallel {PARALLEL}, the auto playbooks", percentile(samples, 95) if samples else None,
                  CONTAIN_TARGET_S, "<=", "s",
                  detail={"responses": len(samples), "failed": failed,
                          "p50": percentile([s for s in samples if s != float("inf")], 50) if samples else None,
                          "samples": {o.scenario_id: o.response.time_to_contain_s for o in outcomes
                                      if o.response is not None}},
                  skipped="" if samples else "no playbook acted on any scenario")


def _contain_samples(outcomes: list[Outcome]) -> tuple[list[float], list[str]]:
    """Each response's time to contain; one that did not prove itself is infinitely slow."""
    samples: list[float] = []
    failed: list[str] = []
    for outcome in outcomes:
        response = outcome.response
        if response is None:
            continue
        took = response.time_to_contain_s
        if response.passed and took is not None:
            samples.append(took)
        else:
            samples.append(float("inf"))
            why = response.error or "; ".join(response.checks + response.release_checks) or "not proved"
            failed.append(f"{outcome.scenario_id}: {why}")
    return samples, failed
