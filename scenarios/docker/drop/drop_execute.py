"""A new binary is written into a running container and executed."""

from __future__ import annotations

import base64
import shutil

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class DropExecute(Scenario):
    id = "docker.drop.drop-execute"
    title = "New binary written into a running container, then executed"
    kind = Kind.ADVERSARY
    techniques = ("T1105", "T1059.004")
    expect = Expectation(fires=("stowaway.host.drop-and-execute",), within_s=15)
    twin = "docker.drop.build-package-install"
    tags = ("drop", "execution")
    description = (
        "Streams a program that is not in the image (the host's `sleep`, base64-encoded, standing in "
        "for a downloaded implant) into a running container through `docker exec`, writes it to "
        "/usr/local/bin/syncd, makes it executable and runs it for three seconds, as a resident "
        "implant would stay. The scenario checks that the file exists in the container and ran "
        "successfully."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="app"))
        # An implant stays resident: a program that exits within microseconds of exec is gone before
        # any /proc-based sensor can attribute it to a container (a documented blind spot).
        tool = shutil.which("sleep") or "/bin/sleep"
        with open(tool, "rb") as handle:
            blob = base64.b64encode(handle.read()).decode()
        lab.exec(box, "sh", "-c", f"echo '{blob}' | base64 -d > /usr/local/bin/syncd && chmod 755 /usr/local/bin/syncd")
        lab.action("execute the dropped binary")
        lab.exec(box, "/usr/local/bin/syncd", "3")
