"""Local account with uid 0 added inside a running container"""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class PasswdAccount(Scenario):
    id = "docker.fim.passwd-account"
    title = "Local account with uid 0 added inside a running container"
    kind = Kind.ADVERSARY
    techniques = ("T1136.001",)
    expect = Expectation(fires=("stowaway.host.fim-account-db",), within_s=15)
    twin = "docker.fim.config-management"
    tags = ("fim", "persistence")
    description = (
        "In a running container, appends a second uid-0 account (sysadm) to /etc/passwd and "
        "/etc/shadow, a backdoor login that survives a password change of root. The scenario checks "
        "the account resolves."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="worker"))
        lab.action("append a uid-0 account to /etc/passwd")
        lab.exec(box, "sh", "-c", "echo 'sysadm:x:0:0::/root:/bin/sh' >> /etc/passwd && "
                 "echo 'sysadm:*:19000:0:99999:7:::' >> /etc/shadow && "
                 "getent passwd sysadm")
