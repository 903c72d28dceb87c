"""An uptime probe checks an internal web service every second, as monitoring does."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class HealthChecks(Scenario):
    id = "docker.network.health-checks"
    title = "Periodic health checks between lab services"
    kind = Kind.BENIGN
    techniques = ("T1071.001",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.analytic.net-beacon", "stowaway.net.egress-not-allowlisted",
                                 "stowaway.analytic.net-new-peer"), window_s=10)
    twin = "docker.network.batch-beacon"
    tags = ("network", "beacon")
    description = (
        "Deploys a web service (nginx) and an uptime probe on the LAN. The probe requests the service's front "
        "page every second +-20 % for the whole window, a perfectly regular rhythm, as a monitoring agent does. "
        "The scenario checks the probe's requests succeed."
    )

    def detonate(self, lab: Lab) -> None:
        web = lab.deploy(WorkloadSpec(role="web", networks=("lan",), labels={"app": "storefront"},
                                      command=("nginx", "-g", "daemon off;")))
        target = web.addresses["lan"]
        probe = lab.deploy(WorkloadSpec(
            role="probe", networks=("lan",), labels={"app": "uptime-probe"},
            command=("sh", "-c", f"while true; do curl -sf -m 1 -o /dev/null http://{target}/ && echo up >> /tmp/ok; "
                                 "sleep 0.$(shuf -i 8-9 -n 1); done"),
        ))
        lab.action("the uptime probe checks the web service every second")
        lab.wait_for(lambda: lab.exec(probe, "sh", "-c", "wc -l < /tmp/ok 2>/dev/null || echo 0").output.strip()
                     not in ("", "0", "1", "2"), timeout=15, what="three successful health checks")
