"""SSH key added to root's authorized_keys inside a container"""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class AuthorizedKeys(Scenario):
    id = "docker.fim.authorized-keys"
    title = "SSH key added to root's authorized_keys inside a container"
    kind = Kind.ADVERSARY
    techniques = ("T1098.004",)
    expect = Expectation(fires=("stowaway.host.fim-authorized-keys",), within_s=15)
    twin = "docker.fim.config-management"
    tags = ("fim", "persistence")
    description = (
        "In a running container, creates /root/.ssh and appends an SSH public key to "
        "/root/.ssh/authorized_keys, so whoever holds the key can log in if sshd ever runs. The "
        "scenario checks the key is in the file."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="api"))
        lab.action("add a key to /root/.ssh/authorized_keys")
        lab.exec(box, "sh", "-c", "mkdir -p /root/.ssh && "
                 "chmod 700 /root/.ssh && "
                 "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHb3x3dCrQ2m0oM1K5sY5c2Qp3mIhF0w8w9t3JX3a1b2 ops@bastion' "
                 ">> /root/.ssh/authorized_keys && "
                 "grep -q ops@bastion /root/.ssh/authorized_keys")
