"""A container with CAP_SYS_ADMIN in the host's network namespace mounts and sees host interfaces."""

from __future__ import annotations

from lab import Lab, LabError, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class SysAdminHostNetwork(Scenario):
    id = "docker.escape.sys-admin-host-network"
    title = "Container with SYS_ADMIN in the host network namespace"
    kind = Kind.ADVERSARY
    techniques = ("T1611", "T1610")
    backends = ("docker",)
    expect = Expectation(
        fires=("stowaway.docker.dangerous-capability", "stowaway.docker.host-namespace"), within_s=15, may_fire={
        "stowaway.docker.exec-escape-tool":
            "It really runs `unshare -m` through `docker exec` to use SYS_ADMIN for a mount, the namespace "
            "tool this rule watches exec sessions for.",
    })
    twin = "docker.escape.monitoring-agent"
    tags = ("escape", "privilege-escalation")
    description = (
        "Deploys a container with `--cap-add SYS_ADMIN` and `--network host`. Inside, it creates a "
        "new mount namespace and mounts a tmpfs (what SYS_ADMIN allows), and lists the network "
        "interfaces, which are the host's: the scenario checks the lab's own LAN bridge is among "
        "them and that the mount worked."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("deploy a SYS_ADMIN container in the host network namespace")
        box = lab.deploy(WorkloadSpec(role="netdiag", cap_add=("SYS_ADMIN",), network_mode="host"))
        mounted = lab.exec(box, "unshare", "-m", "sh", "-c",
                           "mount -t tmpfs scratch /mnt && grep -c ' /mnt tmpfs' /proc/self/mounts", check=False)
        if mounted.exit_code != 0:
            raise LabError(f"SYS_ADMIN did not allow a mount: {mounted.output[-300:]}")
        links = lab.exec(box, "ip", "-o", "link", "show").output
        bridge = lab.networks["lan"].name[:15]
        if bridge not in links:
            raise LabError(f"the host's interfaces are not visible (no {bridge}): {links[:300]!r}")
