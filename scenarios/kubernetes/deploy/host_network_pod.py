"""A pod in the node's network namespace: it sees the node's interfaces and reaches what listens only
on the node's loopback, and no NetworkPolicy applies to it."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._expect import OPERATOR_EXEC

KUBELET_HEALTHZ = "http://127.0.0.1:10248/healthz"  # the kubelet's health endpoint: the node's loopback only


class HostNetworkPod(Scenario):
    id = "kubernetes.deploy.host-network-pod"
    title = "Pod shares the node's network namespace and calls the kubelet on the node's loopback"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1016")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.host-namespace-pod",), within_s=20, may_fire=OPERATOR_EXEC)
    twin = "kubernetes.deploy.node-agent-daemonset"
    tags = ("kubernetes", "discovery")
    description = (
        "Creates a pod with hostNetwork: true, reads the network devices it sees (the node's: its pod "
        "bridge cni0 and one veth per pod on the node) and calls the kubelet's health endpoint on "
        "127.0.0.1:10248, which listens on the node's loopback only and no pod on the pod network can "
        "reach. The scenario checks both. A NetworkPolicy cannot select such a pod (its traffic is the "
        "node's), so a responder that holds it must rely on freezing it, and says so."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("create a pod with hostNetwork")
        pod = lab.deploy(WorkloadSpec(role="netdiag", network_mode="host"))
        devices = lab.exec(pod, "cat", "/proc/net/dev").output
        if "cni0" not in devices or "veth" not in devices:
            raise AssertionError(f"the node's network devices are not visible: {devices[:400]!r}")
        lab.action("call the kubelet on the node's loopback")
        health = lab.exec(pod, "curl", "-s", "-m", "5", KUBELET_HEALTHZ).output.strip()
        if health != "ok":
            raise AssertionError(f"the kubelet's loopback endpoint did not answer: {health[:200]!r}")
