"""A program started with an argv[0] that names another program."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

NAMES = {"kworker": "[kworker/0:1]", "sshd-session": "sshd: root@pts/0", "nginx-path": "/usr/sbin/nginx",
         "bash": "bash"}


class Argv0Spoof(Scenario):
    id = "docker.masquerade.argv0-spoof"
    title = "Process started with a forged argv[0] ([kworker/0:1])"
    kind = Kind.ADVERSARY
    backends = ("docker", "kubernetes")
    techniques = ("T1036",)
    expect = Expectation(fires=("stowaway.host.argv0-mismatch",), within_s=15, may_fire={
        "stowaway.k8s.exec-into-pod":
            "On Kubernetes the operator really runs its commands in the pod with kubectl exec.",
    })
    twin = "docker.masquerade.real-nginx"
    tags = ("masquerade", "defense-evasion")
    dimensions = (
        Dimension("argv0", tuple(NAMES), doc="the forged argv[0]: a kernel thread's bracketed name, an sshd "
                  "session title, another program's full path, or a bare name PATH resolves to another program"),
        Dimension("how", ("python-execv", "bash-exec-a"), doc="the exec with a chosen argv[0] from Python, or "
                  "bash's exec -a"),
    )
    description = (
        "In a running container, execs /usr/bin/sleep with argv[0] set to \"[kworker/0:1]\" (Python's "
        "os.execv), so `ps` lists it as a kernel worker while it runs a real program from its real "
        "path. The scenario checks the process's cmdline really starts with the forged name."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="worker"))
        argv0 = NAMES[str(self.variant["argv0"])]
        lab.action("exec a program under a forged argv[0]")
        if self.variant["how"] == "python-execv":
            spoof = f"import os; os.execv('/usr/bin/sleep', [{argv0!r}, '60'])"
            lab.exec(box, "sh", "-c", f"nohup python3 -c \"{spoof}\" >/dev/null 2>&1 &")
        else:
            lab.exec(box, "bash", "-c", f"(exec -a '{argv0}' /usr/bin/sleep 60) >/dev/null 2>&1 &")
        lab.wait_for(lambda: argv0 in lab.exec(box, "ps", "-eo", "args", check=False).output,
                     timeout=10, what="the forged process to run")
