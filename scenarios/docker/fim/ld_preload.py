"""Dynamic linker preload list written inside a container"""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class LdPreload(Scenario):
    id = "docker.fim.ld-preload"
    title = "Dynamic linker preload list written inside a container"
    kind = Kind.ADVERSARY
    techniques = ("T1574.006",)
    expect = Expectation(fires=("stowaway.host.fim-ld-preload",), within_s=15)
    twin = "docker.fim.config-management"
    tags = ("fim", "persistence")
    description = (
        "In a running container, writes /etc/ld.so.preload naming a library (a copy of libc's libdl "
        "path under /usr/local/lib, standing in for a rootkit hook), so every program started "
        "afterwards loads it first. The scenario checks the file holds that path."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="web"))
        lab.action("write /etc/ld.so.preload")
        lab.exec(box, "sh", "-c", "mkdir -p /usr/local/lib && "
                 "cp /usr/lib/x86_64-linux-gnu/libc.so.6 /usr/local/lib/libsysfs.so && "
                 "echo /usr/local/lib/libsysfs.so > /etc/ld.so.preload && "
                 "grep -q libsysfs /etc/ld.so.preload")
