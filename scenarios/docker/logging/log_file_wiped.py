"""A running container's log file is truncated, then deleted, on the host."""

from __future__ import annotations

import os
import time

from lab import Lab, LabError, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario, ScenarioSkipped


class LogFileWiped(Scenario):
    id = "docker.logging.log-file-wiped"
    title = "A running container's log file is truncated and then deleted on the host"
    kind = Kind.ADVERSARY
    techniques = ("T1070.002", "T1562.006")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.container-log-truncated",
                                "stowaway.analytic.container-log-deleted"), within_s=20)
    twin = "docker.logging.log-rotation"
    tags = ("logging", "defense-evasion")
    description = (
        "Deploys a container that prints a line of host details every 200 ms with the default "
        "json-file driver. Once its log holds output, the scenario, acting as someone with root on "
        "the node, truncates the container's log file (its LogPath in the engine's data root) to "
        "zero, checks it shrank, then deletes it and checks it is gone while the container keeps "
        "running (the engine now writes into an unlinked file)."
    )

    def detonate(self, lab: Lab) -> None:
        worker = lab.deploy(WorkloadSpec(role="worker", command=(
            "sh", "-c", "while true; do echo \"$(date +%s) $(uname -n) $(id -u) load $(cut -d' ' -f1 /proc/loadavg)\"; "
            "sleep 0.2; done")))
        log_path = lab.log_path(worker)
        if log_path is None:
            raise ScenarioSkipped("the container's log file is not on this host (remote engine?)")
        lab.wait_for(lambda: os.path.getsize(log_path) > 512, timeout=10, what="the log to fill")
        lab.action("truncate the running container's log file on the host")
        before = os.path.getsize(log_path)
        os.truncate(log_path, 0)
        if os.path.getsize(log_path) >= before:
            raise LabError("the log file did not shrink")
        time.sleep(1)  # let the change settle on disk and in the sensors before the next one
        lab.action("delete the running container's log file on the host")
        os.unlink(log_path)
        if os.path.exists(log_path):
            raise LabError("the log file is still there")
        state = lab.inspect(worker)["State"]
        if not state.get("Running"):
            raise LabError("the container stopped: the deletion would not be under a running container")
