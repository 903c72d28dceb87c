"""The platform's CD deployer rolls out a component into kube-system with its own identity."""

from __future__ import annotations

import json

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._accounts import bound_account


class DeployerRollout(Scenario):
    id = "kubernetes.deploy.deployer-rollout"
    title = "Approved deployer rolls out a Deployment into kube-system"
    kind = Kind.BENIGN
    techniques = ("T1610",)
    backends = ("kubernetes",)
    expect = Expectation(silent=("stowaway.k8s.system-namespace-deploy",), window_s=10)
    twin = "kubernetes.deploy.system-namespace-pod"
    tags = ("kubernetes", "approved-rollout")
    parallel_safe = False  # the platform namespace and its deployer account are fixed names
    description = (
        "Sets up the CD pipeline's identity as a platform team does (the platform namespace, a "
        "deployer service account bound to the built-in admin role) and, authenticated with that "
        "account's token, rolls out a two-replica Deployment into kube-system. The scenario waits "
        "for the rollout to complete. The policy names this deployer as approved."
    )

    def detonate(self, lab: Lab) -> None:
        token = bound_account(lab, "platform", "deployer", lab.name("platform-deployer"))
        labels = {"app.kubernetes.io/name": "metrics-relay"}
        lab.action("the deployer rolls out a Deployment into kube-system")
        deployment = lab.apply({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": lab.name("metrics-relay"), "namespace": "kube-system", "labels": labels},
            "spec": {
                "replicas": 2, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {
                    "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "relay", "image": lab.image, "imagePullPolicy": "IfNotPresent",
                                    "command": ["python3", "-m", "http.server", "9100"]}],
                }},
            },
        }, token=token)[0]

        def available() -> bool:
            state = json.loads(lab.kubectl("get", "deployment", "-n", "kube-system", deployment.name,
                                           "-o", "json").output)
            return state.get("status", {}).get("availableReplicas", 0) >= 2

        lab.wait_for(available, timeout=60, what="the rollout to become available")
