"""A privileged container with the host's root mounted plants persistence in host system files."""

from __future__ import annotations

from lab import Lab, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

# What a host root holds, in miniature: the stand-in is a lab-owned directory, never the real /etc.
STAND_IN = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    "etc/crontab": "SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n",
    "etc/cron.d/.placeholder": "",
    "root/.ssh/authorized_keys": "",
}


class HostMountTamper(Scenario):
    id = "docker.fim.host-mount-tamper"
    title = "Privileged container writes host system files through a host mount"
    kind = Kind.ADVERSARY
    techniques = ("T1611", "T1574.006", "T1053.003")
    expect = Expectation(fires=("stowaway.host.fim-host-file-via-mount",), within_s=15, may_fire={
        "stowaway.docker.privileged-container":
            "Its container really is started with --privileged, and no privileged agents policy sanctions it.",
    })
    twin = "docker.fim.config-management"
    tags = ("fim", "escape", "persistence")
    description = (
        "Prepares a lab-owned host directory that stands in for the host's root filesystem (etc/passwd, "
        "etc/crontab, etc/cron.d, root/.ssh), and starts a privileged container with it mounted "
        "read-write at /host, as `-v /:/host` would. From inside, the payload writes "
        "/host/etc/ld.so.preload and a cron entry in /host/etc/cron.d. The scenario checks both files "
        "exist on the host side."
    )

    def detonate(self, lab: Lab) -> None:
        root = lab.host_dir("rootfs")
        for relative, content in STAND_IN.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        box = lab.deploy(WorkloadSpec(role="node-agent", privileged=True,
                                      mounts=(Mount(source=str(root), target="/host"),)))
        lab.action("write host persistence through the host mount")
        lab.exec(box, "sh", "-c", "echo /usr/lib/libsysfs.so > /host/etc/ld.so.preload && "
                 "echo '*/5 * * * * root /usr/lib/sysfs-update' > /host/etc/cron.d/sysfs")
        lab.wait_for(lambda: (root / "etc/ld.so.preload").exists() and (root / "etc/cron.d/sysfs").exists(),
                     timeout=5, what="the host files to be written")
