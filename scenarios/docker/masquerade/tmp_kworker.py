"""A payload copied to /tmp under a kernel thread's name, and run from there."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

DIRECTORIES = {"tmp": "/tmp", "var-tmp": "/var/tmp"}


class TmpKworker(Scenario):
    id = "docker.masquerade.tmp-kworker"
    title = "Binary copied to /tmp and run as kworker"
    kind = Kind.ADVERSARY
    backends = ("docker", "kubernetes")
    techniques = ("T1036.005", "T1105")
    expect = Expectation(
        fires=("stowaway.host.masquerade-name", "stowaway.host.exec-from-temp-dir"), within_s=15, may_fire={
        "stowaway.k8s.exec-into-pod":
            "On Kubernetes the operator really runs its commands in the pod with kubectl exec.",
        "stowaway.host.drop-and-execute":
            "It really copies a program into the running container as /tmp/kworker, a file not in its image, "
            "and runs it.",
    })
    twin = "docker.masquerade.real-nginx"
    tags = ("masquerade", "defense-evasion")
    dimensions = (
        Dimension("name", ("kworker", "ksoftirqd", "kswapd0", "sshd", "cron"), doc="the name it borrows: a kernel "
                  "worker thread's, or a system daemon's run from somewhere else"),
        Dimension("directory", tuple(DIRECTORIES), doc="the world-writable directory it runs from"),
    )
    description = (
        "In a running container, copies a program (sleep, standing in for a miner) to /tmp/kworker "
        "and starts it from there, so `ps` shows a kernel-thread-like name. The scenario checks the "
        "process really runs from /tmp/kworker before returning."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="worker"))
        name, directory = str(self.variant["name"]), DIRECTORIES[str(self.variant["directory"])]
        path = f"{directory}/{name}"
        lab.action(f"copy a binary to {path} and run it")
        lab.exec(box, "sh", "-c", f"cp /bin/sleep {path} && chmod +x {path}")
        lab.exec(box, "sh", "-c", f"nohup {path} 60 >/dev/null 2>&1 &")
        lab.wait_for(lambda: lab.exec(box, "sh", "-c", f"readlink /proc/$(pgrep -x {name})/exe", check=False)
                     .output.strip() == path, timeout=10, what=f"{path} to run")
