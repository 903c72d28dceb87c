"""A running container's log file is truncated, then deleted, on the host (on Kubernetes: on its node)."""

from __future__ import annotations

import json
import os
import time

from lab import Lab, LabError, Workload, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario, ScenarioSkipped


class LogFileWiped(Scenario):
    id = "docker.logging.log-file-wiped"
    title = "A running container's log file is truncated and then deleted on the host"
    kind = Kind.ADVERSARY
    techniques = ("T1070.002", "T1562.006")
    backends = ("docker", "kubernetes")
    expect = Expectation(fires=("stowaway.docker.container-log-truncated",
                                "stowaway.analytic.container-log-deleted"), within_s=20)
    twin = "docker.logging.log-rotation"
    tags = ("logging", "defense-evasion")
    description = (
        "Deploys a container that prints a line of host details every 200 ms with the default "
        "json-file driver. Once its log holds output, the scenario, acting as someone with root on "
        "the node, truncates the container's log file (its LogPath in the engine's data root) to "
        "zero, checks it shrank, then deletes it and checks it is gone while the container keeps "
        "running (the engine now writes into an unlinked file). On Kubernetes the same is done on the "
        "pod's node, as root there, to the file the kubelet has containerd write the pod's output to "
        "(/var/log/pods/<namespace>_<pod>_<uid>/<container>/0.log)."
    )

    def detonate(self, lab: Lab) -> None:
        worker = lab.deploy(WorkloadSpec(role="worker", command=(
            "sh", "-c", "while true; do echo \"$(date +%s) $(uname -n) $(id -u) load $(cut -d' ' -f1 /proc/loadavg)\"; "
            "sleep 0.2; done")))
        if lab.backend_name == "kubernetes":
            _wipe_on_node(lab, worker)
            return
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


def _wipe_on_node(lab: Lab, pod: Workload) -> None:
    """Truncate, then delete, the pod's log file on its node, as root on the node would."""
    node, path = lab.pod_log_file(pod)

    def size() -> int:
        out = lab.node_exec(node, "sh", "-c", f"stat -c %s {path} 2>/dev/null || echo -1").output.strip()
        return int(out) if out.lstrip("-").isdigit() else -1

    lab.wait_for(lambda: size() > 512, timeout=15, what="the pod's log to fill")
    lab.action("truncate the running pod's log file on its node")
    before = size()
    lab.node_exec(node, "truncate", "-s", "0", path)
    if size() >= before:
        raise LabError("the log file did not shrink")
    time.sleep(1)  # let the change settle on disk and in the sensors before the next one
    lab.action("delete the running pod's log file on its node")
    lab.node_exec(node, "rm", "-f", path)
    if size() != -1:
        raise LabError("the log file is still there")
    phase = json.loads(lab.kubectl("get", "pod", "-n", pod.namespace, pod.name, "-o", "json")
                       .output)["status"]["phase"]
    if phase != "Running":
        raise LabError(f"the pod is {phase}: the deletion would not be under a running container")
