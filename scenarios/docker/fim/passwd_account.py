"""Local account with uid 0 added inside a running container"""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.fim._write import METHODS, write_line
from scenarios.variants import Dimension


class PasswdAccount(Scenario):
    id = "docker.fim.passwd-account"
    title = "Local account with uid 0 added inside a running container"
    kind = Kind.ADVERSARY
    backends = ("docker", "kubernetes")
    techniques = ("T1136.001",)
    expect = Expectation(fires=("stowaway.host.fim-account-db",), within_s=15, may_fire={
        "stowaway.k8s.exec-into-pod": "On Kubernetes the operator really runs its commands in the pod with "
                                      "kubectl exec.",
    })
    twin = "docker.fim.config-management"
    tags = ("fim", "persistence")
    dimensions = (
        Dimension("method", (*METHODS, "useradd"), doc="how the account is added: appended by a shell, a copy "
                  "renamed over each file, appended from Python, or by useradd (which locks, writes /etc/passwd+ "
                  "and renames it)"),
    )
    description = (
        "In a running container, appends a second uid-0 account (sysadm) to /etc/passwd and "
        "/etc/shadow, a backdoor login that survives a password change of root. The scenario checks "
        "the account resolves. Variants add it by rename, from Python, or with useradd -o -u 0."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="worker"))
        lab.action("append a uid-0 account to /etc/passwd")
        method = str(self.variant["method"])
        if method == "useradd":
            add = "useradd -o -u 0 -g 0 -M -d /root -s /bin/sh sysadm"
        else:
            add = (f"{write_line(method, '/etc/passwd', 'sysadm:x:0:0::/root:/bin/sh')} && "
                   f"{write_line(method, '/etc/shadow', 'sysadm:*:19000:0:99999:7:::')}")
        lab.exec(box, "sh", "-c", f"{add} && getent passwd sysadm")
