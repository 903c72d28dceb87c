"""A container with the host's root mounted chroots into it and writes on the host."""

from __future__ import annotations

import secrets

from lab import Lab, LabError, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class HostRootChroot(Scenario):
    id = "docker.escape.host-root-chroot"
    title = "Container with the host root mounted chroots into it and writes on the host"
    kind = Kind.ADVERSARY
    techniques = ("T1611", "T1610", "T1609")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.sensitive-host-mount", "stowaway.docker.exec-escape-tool"),
                         within_s=15)
    twin = "docker.escape.monitoring-agent"
    tags = ("escape", "privilege-escalation")
    description = (
        "Deploys an unprivileged container with the host's `/` bind-mounted at /host (read-only, "
        "except a lab-owned host directory inside it, so nothing else on the host can be touched). "
        "Through `docker exec` it runs `chroot /host` and, with the host's own shell, writes a "
        "marker file into that directory. The scenario checks the marker on the host, then removes it."
    )

    def detonate(self, lab: Lab) -> None:
        # Names a host would have: the directory and the file are telemetry (mounts, command lines).
        marker_dir = lab.host_dir("spool")
        marker = marker_dir / "sysupdate"
        lab.cleanup(f"remove marker {marker}", lambda: marker.unlink(missing_ok=True))
        lab.action("deploy a container with the host root mounted")
        # The host root is mounted read-only, with only the lab-owned marker directory writable
        # inside it: the chroot runs the host's own shell on the host's file system, and the one
        # place it can write is ours.
        box = lab.deploy(WorkloadSpec(role="backup", mounts=(
            Mount(source="/", target="/host", read_only=True),
            Mount(source=str(marker_dir), target=f"/host{marker_dir}"))))
        token = secrets.token_hex(8)
        lab.exec(box, "chroot", "/host", "/bin/sh", "-c", f"echo {token} > {marker}")
        if not marker.exists() or marker.read_text().strip() != token:
            raise LabError(f"the marker {marker} was not written on the host through the chroot")
        marker.unlink()
