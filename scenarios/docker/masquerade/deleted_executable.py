"""A payload deletes its own executable after it starts."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class DeletedExecutable(Scenario):
    id = "docker.masquerade.deleted-executable"
    title = "Process keeps running after its executable was deleted"
    kind = Kind.ADVERSARY
    techniques = ("T1070.004", "T1036")
    expect = Expectation(fires=("stowaway.host.deleted-executable",), within_s=15, may_fire={
        "stowaway.host.drop-and-execute":
            "It really copies a program into the running container (/var/cache/agentd, not in the image) "
            "and runs it before deleting it.",
    })
    twin = "docker.masquerade.real-nginx"
    tags = ("masquerade", "defense-evasion")
    description = (
        "In a running container, copies a program to /var/cache/agentd, starts it, and deletes the "
        "file a moment later, leaving nothing on disk to scan while the process runs on. The scenario "
        "checks that /proc/<pid>/exe really reads \"(deleted)\" before returning."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="agent"))
        lab.exec(box, "sh", "-c", "mkdir -p /var/cache && cp /bin/sleep /var/cache/agentd")
        lab.exec(box, "sh", "-c", "nohup /var/cache/agentd 60 >/dev/null 2>&1 &")
        lab.wait_for(lambda: lab.exec(box, "pgrep", "-x", "agentd", check=False).exit_code == 0, timeout=10,
                     what="the payload to start")
        lab.action("delete the running payload's executable")
        lab.exec(box, "rm", "-f", "/var/cache/agentd")
        probe = "readlink /proc/$(pgrep -x agentd)/exe"
        lab.wait_for(lambda: "(deleted)" in lab.exec(box, "sh", "-c", probe, check=False).output, timeout=10,
                     what="the executable to show as deleted")
