"""Dynamic linker preload list written inside a container"""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.fim._write import METHODS, METHODS_DOC, write_line
from scenarios.variants import Dimension

LIBRARIES = {"usr-local-lib": "/usr/local/lib/libsysfs.so", "tmp": "/tmp/.libsysfs.so",
             "var-lib": "/var/lib/misc/libsysfs.so"}


class LdPreload(Scenario):
    id = "docker.fim.ld-preload"
    title = "Dynamic linker preload list written inside a container"
    kind = Kind.ADVERSARY
    backends = ("docker", "kubernetes")
    techniques = ("T1574.006",)
    expect = Expectation(fires=("stowaway.host.fim-ld-preload",), within_s=15, may_fire={
        "stowaway.k8s.exec-into-pod": "On Kubernetes the operator really runs its commands in the pod with "
                                      "kubectl exec.",
    })
    twin = "docker.fim.config-management"
    tags = ("fim", "persistence")
    dimensions = (
        Dimension("method", METHODS, doc=METHODS_DOC),
        Dimension("library", tuple(LIBRARIES), doc="where the preloaded library is dropped"),
    )
    description = (
        "In a running container, writes /etc/ld.so.preload naming a library (a copy of libc's libdl "
        "path under /usr/local/lib, standing in for a rootkit hook), so every program started "
        "afterwards loads it first. The scenario checks the file holds that path. Variants write the "
        "list by rename or from Python, and drop the library in /tmp or /var/lib/misc."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="web"))
        lab.action("write /etc/ld.so.preload")
        library, method = LIBRARIES[str(self.variant["library"])], str(self.variant["method"])
        lab.exec(box, "sh", "-c", f"mkdir -p {library.rsplit('/', 1)[0]} && "
                 f"cp /usr/lib/x86_64-linux-gnu/libc.so.6 {library} && "
                 f"{write_line(method, '/etc/ld.so.preload', library)} && grep -q libsysfs /etc/ld.so.preload")
