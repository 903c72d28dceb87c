"""Node maintenance: a worker's kube-proxy pod is deleted and its DaemonSet puts a new one there."""

from __future__ import annotations

import json

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._own_cluster import require_own_cluster

SELECTOR = "k8s-app=kube-proxy"  # kubeadm's label on its kube-proxy add-on


class KubeProxyRestart(Scenario):
    id = "kubernetes.deploy.kube-proxy-restart"
    title = "kube-proxy's pod on a worker is recreated by its DaemonSet, as after a reboot or a node joining"
    kind = Kind.BENIGN
    techniques = ("T1610", "T1611")
    backends = ("kubernetes",)
    expect = Expectation(silent=("stowaway.k8s.privileged-pod", "stowaway.k8s.host-namespace-pod",
                                 "stowaway.k8s.hostpath-mount", "stowaway.k8s.system-namespace-deploy",
                                 "stowaway.k8s.system-workload-changed"), window_s=10)
    twin = "kubernetes.tamper.kube-proxy-sidecar"
    tags = ("kubernetes", "privileged-infrastructure")
    parallel_safe = False  # the cluster's own kube-proxy: one worker's Services pause while it restarts
    description = (
        "What a busy cluster does many times a day: a node reboots, joins, or has its kube-proxy pod "
        "deleted by an operator, and the kube-proxy DaemonSet that kubeadm installed in kube-system "
        "creates its pod there again. That pod is privileged, on the node's network and mounts the "
        "node's /lib/modules and xtables lock: three alerts' worth, for an add-on every kubeadm cluster "
        "runs. The scenario deletes the kube-proxy pod on a worker and waits until the DaemonSet's new "
        "pod there is ready."
    )

    def detonate(self, lab: Lab) -> None:
        pods = json.loads(lab.kubectl("get", "pods", "-n", "kube-system", "-l", SELECTOR, "-o", "json").output)
        workers = [p for p in pods["items"] if "control-plane" not in p["spec"].get("nodeName", "")]
        if not workers:
            raise AssertionError(f"no kube-proxy pod on a worker: {[p['spec'].get('nodeName') for p in pods['items']]}")
        old = workers[0]
        node, old_uid = old["spec"]["nodeName"], old["metadata"]["uid"]
        require_own_cluster(lab, node)
        lab.action(f"delete the kube-proxy pod on {node}; its DaemonSet recreates it")
        lab.kubectl("delete", "pod", "-n", "kube-system", old["metadata"]["name"], "--wait=true")

        def replaced() -> bool:
            now = json.loads(lab.kubectl("get", "pods", "-n", "kube-system", "-l", SELECTOR,
                                         "--field-selector", f"spec.nodeName={node}", "-o", "json").output)
            return any(p["metadata"]["uid"] != old_uid and any(
                c.get("ready") for c in (p.get("status") or {}).get("containerStatuses") or [])
                for p in now["items"])

        lab.wait_for(replaced, timeout=60, what=f"a new ready kube-proxy pod on {node}")
