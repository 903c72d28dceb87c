"""A payload copied to /tmp under a kernel thread's name, and run from there."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class TmpKworker(Scenario):
    id = "docker.masquerade.tmp-kworker"
    title = "Binary copied to /tmp and run as kworker"
    kind = Kind.ADVERSARY
    techniques = ("T1036.005", "T1105")
    expect = Expectation(
        fires=("stowaway.host.masquerade-name", "stowaway.host.exec-from-temp-dir"), within_s=15, may_fire={
        "stowaway.host.drop-and-execute":
            "It really copies a program into the running container as /tmp/kworker, a file not in its image, "
            "and runs it.",
    })
    twin = "docker.masquerade.real-nginx"
    tags = ("masquerade", "defense-evasion")
    description = (
        "In a running container, copies a program (sleep, standing in for a miner) to /tmp/kworker "
        "and starts it from there, so `ps` shows a kernel-thread-like name. The scenario checks the "
        "process really runs from /tmp/kworker before returning."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="worker"))
        lab.action("copy a binary to /tmp/kworker and run it")
        lab.exec(box, "sh", "-c", "cp /bin/sleep /tmp/kworker && chmod +x /tmp/kworker")
        lab.exec(box, "sh", "-c", "nohup /tmp/kworker 60 >/dev/null 2>&1 &")
        lab.wait_for(lambda: lab.exec(box, "sh", "-c", "readlink /proc/$(pgrep -x kworker)/exe", check=False)
                     .output.strip() == "/tmp/kworker", timeout=10, what="/tmp/kworker to run")
