"""The platform rolls the detectors' node agent out again: each node's agent is replaced within seconds."""

from __future__ import annotations

import json

from lab import Lab, LabError, Workload
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._agents import DETECTORS_AGENT

AGENT_NAMESPACE, _, AGENT_DAEMONSET = DETECTORS_AGENT


class NodeAgentRollout(Scenario):
    id = "kubernetes.tamper.node-agent-rollout"
    title = "The node agent DaemonSet is restarted by a rollout: every agent replaced, none silent"
    kind = Kind.BENIGN
    techniques = ("T1562.001",)
    backends = ("kubernetes",)
    expect = Expectation(silent=("stowaway.k8s.node-agent-silent",), window_s=45)
    twin = "kubernetes.tamper.node-agent-frozen"
    tags = ("kubernetes",)
    parallel_safe = False  # every node's agent is replaced while it runs
    description = (
        "Restarts the monitoring agent's DaemonSet the way a platform team ships a new version "
        "(`kubectl rollout restart`), waits for the rollout to finish and checks every node runs a new "
        "agent pod. Each node is unwatched for the seconds its agent is replaced, far less than the "
        "silence the rule reports; the rule must stay silent for 45 s."
    )

    def detonate(self, lab: Lab) -> None:
        def pods() -> dict[str, str]:
            items = json.loads(lab.kubectl("get", "pods", "-n", AGENT_NAMESPACE, "-o", "json").output)["items"]
            return {p["metadata"]["uid"]: p["spec"]["nodeName"] for p in items if p["status"].get("phase") == "Running"}

        before = pods()
        # Every node whose agent is replaced is this scenario's object: a silence on any of them is its.
        for node in sorted(set(before.values())):
            lab.track(Workload(id=node, name=node, kind="node", backend="kubernetes"))
        lab.action("restart the node agent's DaemonSet (a rollout)")
        lab.kubectl("rollout", "restart", f"daemonset/{AGENT_DAEMONSET}", "-n", AGENT_NAMESPACE)
        lab.kubectl("rollout", "status", f"daemonset/{AGENT_DAEMONSET}", "-n", AGENT_NAMESPACE, "--timeout=120s",
                    timeout=150)
        after = pods()
        if set(after) & set(before) or sorted(after.values()) != sorted(before.values()):
            raise LabError(f"the rollout did not replace every agent: before {before}, after {after}")
