"""A pod mounting its node's /etc: the cluster admin's credentials are a file away."""

from __future__ import annotations

from lab import Lab, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class HostPathPod(Scenario):
    id = "kubernetes.deploy.hostpath-pod"
    title = "Pod mounts the node's /etc and reads the admin kubeconfig"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1611")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.hostpath-mount",), within_s=20, may_fire={
        "stowaway.k8s.exec-into-pod": "The operator really execs into the pod it deployed with kubectl "
                                      "to use what it gained there.",
    })
    twin = "kubernetes.deploy.node-agent-daemonset"
    tags = ("kubernetes", "privilege-escalation", "credential-access")
    description = (
        "Creates a pod that mounts the node's /etc/kubernetes (hostPath) and reads admin.conf from it: "
        "the control-plane node's cluster-admin credentials. The scenario checks the file it read "
        "holds a client certificate."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("create a pod with a hostPath mount of /etc/kubernetes")
        pod = lab.deploy(WorkloadSpec(role="backup", mounts=(Mount(source="/etc/kubernetes", target="/host-etc"),)))
        result = lab.exec(pod, "sh", "-c", "grep -c client-certificate-data /host-etc/admin.conf")
        if not result.output.strip().startswith("1"):
            raise AssertionError(f"admin.conf was not readable through the host mount: {result.output!r}")
