"""A privileged pod: every capability and the node's devices, one step from the node."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._expect import OPERATOR_EXEC


class PrivilegedPod(Scenario):
    id = "kubernetes.deploy.privileged-pod"
    title = "Privileged pod deployed by a user with a kubeconfig"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1611")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.privileged-pod",), within_s=20, may_fire=OPERATOR_EXEC)
    twin = "kubernetes.deploy.node-agent-daemonset"
    tags = ("kubernetes", "privilege-escalation")
    description = (
        "Creates a pod in the default namespace whose container runs privileged, then uses what only "
        "privilege allows: it mounts a tmpfs inside the container (mount needs CAP_SYS_ADMIN) and "
        "lists the node's devices under /dev. The scenario checks the mount is there."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("create a privileged pod")
        pod = lab.deploy(WorkloadSpec(role="batch", privileged=True))
        lab.exec(pod, "sh", "-c", "mkdir -p /mnt/scratch && mount -t tmpfs none /mnt/scratch && "
                                  "grep -q ' /mnt/scratch tmpfs' /proc/mounts && ls /dev | head")
