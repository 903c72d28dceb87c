"""Egress through the sanctioned forward proxy, as the egress policy says it must go."""

from __future__ import annotations

import shutil
from pathlib import Path

from lab import Lab, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

PROXY = Path(__file__).parent / "_assets" / "forward_proxy.py"


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
        "forward_proxy.py) on the LAN and the lab internet with the workload labels the egress policy "
        "declares, and an application on the LAN only. The application fetches three pages and uploads a "
        "small report from an outside site (the sinkhole) through the proxy with curl -x. The scenario checks "
        "the sinkhole received the requests from the proxy's address."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        # Mounted from a copy on the host, as a config volume would be: the repository's own path
        # would be in the container's mount sources.
        program = lab.host_dir("proxy") / "forward_proxy.py"
        shutil.copy(PROXY, program)
        proxy = lab.deploy(WorkloadSpec(
            role="proxy", networks=("lan", "inet"), labels={"app": "egress-proxy", "tier": "infra"},
            command=("python3", "/opt/proxy/forward_proxy.py", "3128"),
            mounts=(Mount(source=str(program), target="/opt/proxy/forward_proxy.py", read_only=True),),
        ))
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
