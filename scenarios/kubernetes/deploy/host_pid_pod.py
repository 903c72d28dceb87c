"""A pod in the node's PID namespace: it sees (and can signal) every process of the node."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._expect import OPERATOR_EXEC


class HostPidPod(Scenario):
    id = "kubernetes.deploy.host-pid-pod"
    title = "Pod shares the node's PID namespace and lists its processes"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1611")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.host-namespace-pod",), within_s=20, may_fire=OPERATOR_EXEC)
    twin = "kubernetes.deploy.node-agent-daemonset"
    tags = ("kubernetes", "discovery")
    description = (
        "Creates a pod with hostPID: true and lists the node's processes from inside it. The "
        "scenario checks that the kubelet and containerd of the node are in the list."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("create a pod with hostPID")
        pod = lab.deploy(WorkloadSpec(role="metrics", pid_mode="host"))
        listing = lab.exec(pod, "ps", "-eo", "comm").output
        if "kubelet" not in listing or "containerd" not in listing:
            raise AssertionError(f"the node's processes are not visible: {listing[:300]!r}")
