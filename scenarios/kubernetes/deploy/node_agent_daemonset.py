"""The platform's node monitoring agent: a DaemonSet with host mounts, sanctioned by policy."""

from __future__ import annotations

import json

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario

NAMESPACE = "platform-agents"


class NodeAgentDaemonSet(Scenario):
    id = "kubernetes.deploy.node-agent-daemonset"
    title = "Sanctioned node agent DaemonSet with host mounts and host PID"
    kind = Kind.BENIGN
    techniques = ("T1610", "T1611")
    backends = ("kubernetes",)
    expect = Expectation(silent=("stowaway.k8s.privileged-pod", "stowaway.k8s.hostpath-mount",
                                 "stowaway.k8s.host-namespace-pod"), window_s=10)
    twin = "kubernetes.deploy.hostpath-pod"
    tags = ("kubernetes", "privileged-infrastructure")
    parallel_safe = False  # a fixed namespace and DaemonSet name, as the platform would use
    description = (
        "Rolls out the platform's node monitoring agent the way the platform does: the "
        "platform-agents namespace, a node-agent service account and a DaemonSet whose privileged "
        "pod shares the node's PID namespace and mounts the node's /var/log and /proc read-only. "
        "The agent counts the node's processes and log files into its own status file on the node "
        "(/var/lib/node-agent/status, a hostPath it owns). The scenario waits for the DaemonSet to be "
        "ready and reads the status file from the node container, without exec-ing into the pod."
    )

    def detonate(self, lab: Lab) -> None:
        script = ("while true; do echo \"procs=$(ls -d /proc/[0-9]* | wc -l) logs=$(find /host/var/log -type f "
                  "| wc -l)\" > /state/status; sleep 2; done")
        lab.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        lab.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "node-agent", "namespace": NAMESPACE}})
        lab.action("roll out the node agent DaemonSet")
        labels = {"app.kubernetes.io/name": "node-agent"}
        daemonset = lab.apply({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "node-agent", "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "node-agent", "hostPID": True,
                        "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
                        "containers": [{
                            "name": "agent", "image": lab.image, "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", script],
                            "securityContext": {"privileged": True},
                            "volumeMounts": [
                                {"name": "varlog", "mountPath": "/host/var/log", "readOnly": True},
                                {"name": "state", "mountPath": "/state"},
                            ],
                        }],
                        "volumes": [
                            {"name": "varlog", "hostPath": {"path": "/var/log"}},
                            {"name": "state", "hostPath": {"path": "/var/lib/node-agent", "type": "DirectoryOrCreate"}},
                        ],
                    },
                },
            },
        })[-1]

        def ready() -> bool:
            status = json.loads(lab.kubectl("get", "daemonset", "-n", NAMESPACE, daemonset.name, "-o", "json").output)
            return status.get("status", {}).get("numberReady", 0) >= 1

        lab.wait_for(ready, timeout=60, what="the node agent DaemonSet to be ready")
        nodes = lab.kubectl("get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=node-agent", "-o",
                            "jsonpath={.items[*].spec.nodeName}").output.split()
        node = nodes[0]
        for each in nodes:  # one agent per node, each with its state directory
            lab.cleanup(f"remove the agent's state on {each}",
                        lambda each=each: lab.node_exec(each, "rm", "-rf", "/var/lib/node-agent"))

        def reported() -> bool:
            return "procs=" in lab.node_exec(node, "cat", "/var/lib/node-agent/status").output

        lab.wait_for(reported, timeout=20, what="the agent's status file on the node")
