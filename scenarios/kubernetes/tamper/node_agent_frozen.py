"""Root on a worker freezes the detectors' node agent there: the pod stays Running, the node goes unwatched."""

from __future__ import annotations

import json
import time

from lab import Lab, LabError, Workload
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._agents import DETECTORS_AGENT
from scenarios.variants import Dimension

AGENT_NAMESPACE = DETECTORS_AGENT[0]
AGENT_COMMAND = "python3 -m detectors.agent"
BRIEF_S = 15  # with up to 10 s since its last health line, still under the reader's 30 s of patience


class NodeAgentFrozen(Scenario):
    id = "kubernetes.tamper.node-agent-frozen"
    title = "The monitoring agent's process on a worker is stopped with SIGSTOP: Running, but blind"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001",)
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.node-agent-silent",), within_s=60)
    twin = "kubernetes.tamper.node-agent-rollout"
    tags = ("kubernetes", "defense-evasion")
    parallel_safe = False  # it blinds a worker: no other scenario may count on that node meanwhile
    dimensions = (
        Dimension("hold", ("until-reverted", f"brief-{BRIEF_S}s"), doc="how long the agent stays stopped: until "
                  f"the scenario is reverted, or {BRIEF_S} s and then let go again (SIGCONT), shorter than the "
                  "silence the reader waits for (a documented blind spot of the rule)"),
    )
    description = (
        "Acting as root on a worker node, finds the monitoring agent's process (the node agent's pod "
        "on that node, listed in stowaway-system) and stops it with SIGSTOP. Nothing changes in the "
        "cluster: the pod stays Running and Ready, the DaemonSet is untouched, no API call is made, so "
        "the audit log has nothing to say. The scenario checks the process is really stopped (state T) "
        "and that the pod still reads Running, then lets it run again when it is reverted. A variant lets "
        f"it go after {BRIEF_S} s, before the reader's patience runs out."
    )

    def detonate(self, lab: Lab) -> None:
        pods = json.loads(lab.kubectl("get", "pods", "-n", AGENT_NAMESPACE, "-o", "json").output)["items"]
        nodes = sorted(p["spec"]["nodeName"] for p in pods if "worker" in p["spec"].get("nodeName", "")
                       and p["status"].get("phase") == "Running")
        if not nodes:
            raise LabError(f"no running pod in {AGENT_NAMESPACE} on a worker")
        node = nodes[0]
        lab.track(Workload(id=node, name=node, kind="node", backend="kubernetes"))
        pid = lab.node_exec(node, "pgrep", "-o", "-f", AGENT_COMMAND).output.strip()
        if not pid.isdigit():
            raise LabError(f"no agent process on {node}: {pid!r}")
        lab.action(f"stop the monitoring agent's process on {node} (SIGSTOP)")
        lab.node_exec(node, "kill", "-STOP", pid)
        lab.cleanup(f"let the agent on {node} run again", lambda: lab.node_exec(node, "kill", "-CONT", pid))
        state = lab.node_exec(node, "sh", "-c", f"cut -d' ' -f3 /proc/{pid}/stat").output.strip()
        if state != "T":
            raise LabError(f"the agent's process on {node} is in state {state!r}, not stopped")
        if self.variant["hold"] != "until-reverted":
            time.sleep(BRIEF_S)
            lab.node_exec(node, "kill", "-CONT", pid)
        phases = {p["spec"]["nodeName"]: p["status"].get("phase") for p in
                  json.loads(lab.kubectl("get", "pods", "-n", AGENT_NAMESPACE, "-o", "json").output)["items"]}
        if phases.get(node) != "Running":
            raise LabError(f"the agent's pod on {node} is {phases.get(node)!r}: the freeze should leave it Running")
