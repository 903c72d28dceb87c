"""SSH key added to root's authorized_keys inside a container"""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.fim._write import METHODS, METHODS_DOC, write_line
from scenarios.variants import Dimension

PATHS = {"root": "/root/.ssh/authorized_keys", "root-keys2": "/root/.ssh/authorized_keys2",
         "user": "/home/app/.ssh/authorized_keys"}
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHb3x3dCrQ2m0oM1K5sY5c2Qp3mIhF0w8w9t3JX3a1b2 ops@bastion"


class AuthorizedKeys(Scenario):
    id = "docker.fim.authorized-keys"
    title = "SSH key added to root's authorized_keys inside a container"
    kind = Kind.ADVERSARY
    backends = ("docker", "kubernetes")
    techniques = ("T1098.004",)
    expect = Expectation(fires=("stowaway.host.fim-authorized-keys",), within_s=15, may_fire={
        "stowaway.k8s.exec-into-pod": "On Kubernetes the operator really runs its commands in the pod with "
                                      "kubectl exec.",
    })
    twin = "docker.fim.config-management"
    tags = ("fim", "persistence")
    dimensions = (
        Dimension("path", tuple(PATHS), doc="whose keys: root's authorized_keys, root's authorized_keys2 (still "
                  "read by OpenSSH's default AuthorizedKeysFile), or an application user's"),
        Dimension("method", METHODS, doc=METHODS_DOC),
    )
    description = (
        "In a running container, creates /root/.ssh and appends an SSH public key to "
        "/root/.ssh/authorized_keys, so whoever holds the key can log in if sshd ever runs. The "
        "scenario checks the key is in the file."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="api"))
        lab.action("add a key to /root/.ssh/authorized_keys")
        path, method = PATHS[str(self.variant["path"])], str(self.variant["method"])
        lab.exec(box, "sh", "-c", f"{write_line(method, path, KEY)} && chmod 700 {path.rsplit('/', 1)[0]} && "
                 f"grep -q ops@bastion {path}")
