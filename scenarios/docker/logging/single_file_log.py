"""A chatty service with only max-size=1m: its log rotates three times in a few seconds."""

from __future__ import annotations

from lab import Lab, LabError, Logging, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario, ScenarioSkipped

PRINTED_BYTES = 3 * 1024 * 1024


class SingleFileLog(Scenario):
    id = "docker.logging.single-file-log"
    title = "A busy container's json-file log set with only max-size=1m rotates several times in seconds"
    kind = Kind.BENIGN
    techniques = ("T1070.002",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.docker.container-log-truncated", "stowaway.analytic.container-log-deleted",
                                 "stowaway.docker.logging-discarded"), window_s=10)
    twin = "docker.logging.log-file-wiped"
    tags = ("logging",)
    description = (
        "Deploys a container with the json-file driver and only `max-size=1m`, the most common log "
        "setting there is (`max-file` then defaults to 1, which the policy's 1 MiB minimum allows). "
        "The job prints about 3 MiB of progress lines in a few seconds, then a status line a second: "
        "the engine renames the full file to `.1` (replacing the previous one) and opens a new one, "
        "three times in quick succession, so freed inodes are handed straight to the next file. The "
        "scenario checks on the host that the log rotated (a `.1` exists, the file is smaller than what "
        "was printed). No truncation, deletion or retention rule may fire."
    )

    def detonate(self, lab: Lab) -> None:
        row = "rows ok, checksum verified, " * 30  # about 900 bytes a line
        lines = PRINTED_BYTES // len(row)
        job = (
            f"i=0; while [ $i -lt {lines} ]; do echo \"processed batch $i of the nightly import: {row}\"; "
            "i=$((i+1)); [ $((i % 200)) -eq 0 ] && sleep 0.1; done; touch /tmp/import-done; "
            "while true; do echo \"idle, queue empty\"; sleep 1; done"
        )
        lab.action("deploy a busy container whose log is set with only max-size=1m")
        worker = lab.deploy(WorkloadSpec(role="importer", command=("sh", "-c", job),
                                         logging=Logging(driver="json-file", options={"max-size": "1m"})))
        log_path = lab.log_path(worker)
        if log_path is None:
            raise ScenarioSkipped("the container's log file is not on this host (remote engine?)")
        lab.wait_for(lambda: lab.exec(worker, "test", "-e", "/tmp/import-done", check=False).exit_code == 0,
                     timeout=60, what="the job to print its output")
        size = log_path.stat().st_size
        if not log_path.with_name(log_path.name + ".1").exists() or size >= PRINTED_BYTES:
            raise LabError(f"the engine did not rotate the log (no .1, or it kept {size} bytes of "
                           f"{PRINTED_BYTES} printed)")
