"""Egress through the sanctioned forward proxy, as the egress policy says it must go."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import EGRESS_PROXY


class SanctionedProxy(Scenario):
    id = "docker.network.sanctioned-proxy"
    title = "Workload reaches the outside through the sanctioned egress proxy"
    kind = Kind.BENIGN
    techniques = ("T1090",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.net.egress-not-allowlisted", "stowaway.net.process-egress-not-allowlisted",
                                 "stowaway.analytic.net-relay", "stowaway.analytic.net-volume",
                                 "stowaway.analytic.net-beacon"), window_s=10)
    twin = "docker.network.relay"
    tags = ("network", "proxy")
    description = (
        "Deploys the platform's egress proxy (a small HTTP forward proxy, scenarios/docker/network/_assets/"
        "forward_proxy.py, in the image the platform's pipeline built and signed, platform/egress-proxy) on "
        "the LAN and the lab internet, as the egress policy sanctions it, and an application on the LAN only. "
        "The application fetches three pages and uploads a "
        "small report from an outside site (the sinkhole) through the proxy with curl -x. The scenario checks "
        "the sinkhole received the requests from the proxy's address."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        proxy = lab.deploy(WorkloadSpec(
            role="proxy", image=lab.platform_image(EGRESS_PROXY), command=(), networks=("lan", "inet"),
            labels={"app": "egress-proxy", "tier": "infra"}))
        app = lab.deploy(WorkloadSpec(role="app", networks=("lan",), labels={"app": "storefront"}))
        via = f"http://{proxy.addresses['lan']}:3128"
        lab.action("the application fetches from the outside through the sanctioned proxy")
        lab.exec(app, "sh", "-c", f"for i in 1 2 3 4 5 6 7 8 9 10; do curl -sf -m 3 -x {via} -o /dev/null "
                                  f"http://{sink}/catalog && exit 0; sleep 0.5; done; exit 1")
        lab.exec(app, "sh", "-c", f"curl -sf -m 3 -x {via} -o /dev/null http://{sink}/prices; sleep 1.3; "
                                  f"curl -sf -m 3 -x {via} -o /dev/null --data-binary @/etc/os-release "
                                  f"http://{sink}/report")
        source = proxy.addresses["inet"]
        lab.wait_for(lambda: len(lab.sinkhole_records(peer=source)) >= 3, timeout=10,
                     what="the proxied requests to reach the sinkhole")
