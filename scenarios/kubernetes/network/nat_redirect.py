"""A pod with NET_ADMIN rewrites its own NAT table to send a service's traffic to the lab internet."""

from __future__ import annotations

import secrets

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._expect import OPERATOR_EXEC


class NatRedirect(Scenario):
    id = "kubernetes.network.nat-redirect"
    title = "Pod with NET_ADMIN DNATs its traffic to an endpoint on the lab internet"
    kind = Kind.ADVERSARY
    techniques = ("T1090", "T1610")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.net-admin-pod",), within_s=20, may_fire=OPERATOR_EXEC)
    tags = ("kubernetes", "command-and-control", "traffic-redirection")
    description = (
        "Creates a pod that adds NET_ADMIN, installs an iptables DNAT rule in its own network "
        "namespace that rewrites connections to an address on the lab LAN (port 80) to the sinkhole's "
        "port 8080 on the lab internet, then makes an HTTP request to the LAN address. The scenario "
        "checks the sinkhole received that request (the node masquerades the pod's traffic)."
    )

    def detonate(self, lab: Lab) -> None:
        token = secrets.token_hex(6)
        decoy = lab.networks["lan"].host(200)  # nothing listens there: only the DNAT makes it answer
        lab.action("create a NET_ADMIN pod and DNAT its traffic")
        pod = lab.deploy(WorkloadSpec(role="proxy", cap_add=("NET_ADMIN",)))
        lab.exec(pod, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", decoy, "--dport", "80",
                 "-j", "DNAT", "--to-destination", f"{lab.sinkhole.address}:8080")
        lab.exec(pod, "curl", "-s", "-m", "5", "-o", "/dev/null", f"http://{decoy}/{token}", check=False)
        lab.wait_for(lambda: any(token in r.get("head", "") for r in lab.sinkhole_records()), timeout=15,
                     what="the redirected request to reach the sinkhole")
