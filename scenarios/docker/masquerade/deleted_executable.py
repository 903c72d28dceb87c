"""A payload deletes its own executable after it starts."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

DIRECTORIES = {"var-cache": "/var/cache", "usr-local-bin": "/usr/local/bin", "tmp": "/tmp"}
DELETE = {"rm": "rm -f {path}", "python": "python3 -c 'import os; os.unlink(\"{path}\")'",
          "moved-away": "mv {path} /dev/shm/.agentd.old && rm -f /dev/shm/.agentd.old"}


class DeletedExecutable(Scenario):
    id = "docker.masquerade.deleted-executable"
    title = "Process keeps running after its executable was deleted"
    kind = Kind.ADVERSARY
    backends = ("docker", "kubernetes")
    techniques = ("T1070.004", "T1036")
    expect = Expectation(fires=("stowaway.host.deleted-executable",), within_s=15, may_fire={
        "stowaway.k8s.exec-into-pod": "On Kubernetes the operator really runs its commands in the pod with "
                                      "kubectl exec.",
        "stowaway.host.drop-and-execute":
            "It really copies a program into the running container (/var/cache/agentd, not in the image) "
            "and runs it before deleting it.",
        "stowaway.host.exec-from-temp-dir":
            "A variant really runs it from /tmp before deleting it.",
    })
    twin = "docker.masquerade.real-nginx"
    tags = ("masquerade", "defense-evasion")
    dimensions = (
        Dimension("directory", tuple(DIRECTORIES), doc="where the payload ran from before it was deleted"),
        Dimension("delete", tuple(DELETE), doc="how it is deleted: rm, Python's os.unlink, or moved to another "
                  "filesystem (copied, then unlinked) and removed there"),
    )
    description = (
        "In a running container, copies a program to /var/cache/agentd, starts it, and deletes the "
        "file a moment later, leaving nothing on disk to scan while the process runs on. The scenario "
        "checks that /proc/<pid>/exe really reads \"(deleted)\" before returning."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="agent"))
        directory = DIRECTORIES[str(self.variant["directory"])]
        path = f"{directory}/agentd"
        lab.exec(box, "sh", "-c", f"mkdir -p {directory} && cp /bin/sleep {path}")
        lab.exec(box, "sh", "-c", f"nohup {path} 60 >/dev/null 2>&1 &")
        lab.wait_for(lambda: lab.exec(box, "pgrep", "-x", "agentd", check=False).exit_code == 0, timeout=10,
                     what="the payload to start")
        lab.action("delete the running payload's executable")
        lab.exec(box, "sh", "-c", DELETE[str(self.variant["delete"])].format(path=path))
        probe = "readlink /proc/$(pgrep -x agentd)/exe"
        lab.wait_for(lambda: "(deleted)" in lab.exec(box, "sh", "-c", probe, check=False).output, timeout=10,
                     what="the executable to show as deleted")
