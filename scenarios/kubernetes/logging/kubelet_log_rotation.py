"""A busy pod's log rotated by the kubelet, the rotated files compressed and pruned: nothing is tampered with."""

from __future__ import annotations

import posixpath
import shlex

from lab import Lab, LabError, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

BURSTS = 4  # the kubelet compresses a rotated file from the third rotation on
BURST_MIB = 11  # over the kubelet's default containerLogMaxSize (10Mi), which the lab's nodes keep
BURST_EVERY_S = 15  # longer than the kubelet's 10 s log monitor period: one rotation per burst


class KubeletLogRotation(Scenario):
    id = "kubernetes.logging.kubelet-log-rotation"
    title = "The kubelet rotates, compresses and prunes a busy pod's log files"
    kind = Kind.BENIGN
    techniques = ("T1070.002",)
    backends = ("kubernetes",)
    expect = Expectation(silent=("stowaway.docker.container-log-truncated",
                                 "stowaway.analytic.container-log-deleted"), window_s=10)
    twin = "docker.logging.log-file-wiped"
    tags = ("kubernetes", "logging")
    description = (
        f"Runs an import job pod that prints {BURST_MIB} MiB of progress lines {BURSTS} times, "
        f"{BURST_EVERY_S} s apart, then a status line a second. The kubelet (defaults: containerLogMaxSize "
        "10Mi, five files, a look every 10 s) renames the pod's 0.log to 0.log.<timestamp> and has "
        "containerd reopen a new 0.log at each look that finds it full; from the third rotation it "
        "compresses the older rotated files (a .tmp written, renamed to .gz, the plain file unlinked). "
        "The scenario checks on the pod's node that a compressed and an uncompressed rotated file exist "
        "beside the live log. Neither the truncation nor the deletion rule may fire: the log the pod "
        "writes was never shrunk nor deleted while it was written."
    )

    def detonate(self, lab: Lab) -> None:
        row = "rows ok, checksum verified, " * 30  # about 900 bytes a line
        lines = BURST_MIB * 1024 * 1024 // (len(row) + 40)
        job = (
            f"b=0; while [ $b -lt {BURSTS} ]; do i=0; "
            f"while [ $i -lt {lines} ]; do echo \"burst $b batch $i of the nightly import: {row}\"; i=$((i+1)); done; "
            f"b=$((b+1)); sleep {BURST_EVERY_S}; done; "
            "while true; do echo \"idle, queue empty\"; sleep 1; done"
        )
        lab.action("run an import job whose output fills its log four times over")
        pod = lab.deploy(WorkloadSpec(role="importer", command=("sh", "-c", job)))
        node, path = lab.pod_log_file(pod)
        directory, name = posixpath.split(path)

        def rotated() -> list[str]:
            listing = lab.node_exec(node, "sh", "-c", f"ls {shlex.quote(directory)} 2>/dev/null").output.split()
            return [f for f in listing if f.startswith(name + ".")]

        lab.wait_for(lambda: any(f.endswith(".gz") for f in rotated()), timeout=BURSTS * BURST_EVERY_S + 40,
                     what="the kubelet to rotate and compress the pod's log")
        files = rotated()
        if not any(not f.endswith((".gz", ".tmp")) for f in files):
            raise LabError(f"no uncompressed rotated file beside {path}: {files}")
        if lab.node_exec(node, "test", "-f", path).exit_code != 0:
            raise LabError(f"the live log {path} is gone")
