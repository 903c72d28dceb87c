"""A chatty service's json-file log rotates by itself, as configured: nothing is tampered with."""

from __future__ import annotations

from lab import Lab, Logging, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario, ScenarioSkipped
from scenarios.variants import Dimension

# max-size x max-file, each at least the platform's 1 MiB minimum (log_retention.yaml).
RETENTION = {"256k-x4": ("256k", "4"), "128k-x8": ("128k", "8"), "512k-x2": ("512k", "2")}


class LogRotation(Scenario):
    id = "docker.logging.log-rotation"
    title = "The json-file driver rotates a busy container's log (max-size 256k, 4 files)"
    kind = Kind.BENIGN
    techniques = ("T1070.002",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.docker.container-log-truncated", "stowaway.analytic.container-log-deleted",
                                 "stowaway.docker.logging-discarded"), window_s=10)
    twin = "docker.logging.log-file-wiped"
    tags = ("logging",)
    dimensions = (
        Dimension("retention", tuple(RETENTION), doc="max-size and max-file, each keeping at least 1 MiB: four "
                  "files of 256 KB, eight of 128 KB, or two of 512 KB"),
    )
    description = (
        "Deploys a container with the json-file driver, `max-size=256k` and `max-file=4` (1 MiB kept, "
        "the policy minimum), whose job prints about 500 KB of progress lines over a few seconds, then "
        "keeps printing a status line a second. The engine rotates the log by renaming it to `.1`, "
        "`.2`, ... and opening a new file. The scenario checks on the host that rotated files exist. "
        "No truncation or deletion rule may fire."
    )

    def detonate(self, lab: Lab) -> None:
        # Shell builtins only and a pause every 100 lines: a busy log, not a busy CPU.
        row = "rows ok, checksum verified, " * 6
        job = (
            "i=0; while [ $i -lt 2400 ]; do echo \"processed batch $i of the nightly import: " + row + "\"; "
            "i=$((i+1)); [ $((i % 100)) -eq 0 ] && sleep 0.1; done; "
            "while true; do echo \"idle, queue empty\"; sleep 1; done"
        )
        size, files = RETENTION[str(self.variant["retention"])]
        lab.action("deploy a busy container with json-file rotation")
        worker = lab.deploy(WorkloadSpec(role="importer", command=("sh", "-c", job),
                                         logging=Logging(driver="json-file", options={"max-size": size,
                                                                                      "max-file": files})))
        log_path = lab.log_path(worker)
        if log_path is None:
            raise ScenarioSkipped("the container's log file is not on this host (remote engine?)")
        lab.wait_for(lambda: log_path.with_name(log_path.name + ".1").exists(), timeout=20,
                     what="the engine to rotate the log")
