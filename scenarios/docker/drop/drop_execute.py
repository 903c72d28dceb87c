"""A new binary is written into a running container and executed."""

from __future__ import annotations

import base64
import shutil

from lab import Lab, Workload, WorkloadSpec
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
        "implant would stay. Then it drops a one-shot helper the same way (the host's `true` as "
        "/usr/local/bin/syncd-ctl) and runs it: it exits within microseconds of exec, before "
        "anything can read its /proc entry. The scenario checks that both files exist in the "
        "container and ran successfully."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="app"))
        _drop(lab, box, "sleep", "/usr/local/bin/syncd")
        # The one-shot helper is written before the action, so that the decisive moment stays the
        # implant's run. A program gone within microseconds of exec is attributed as well as a
        # resident one (tests/integration/test_exec_short_lived.py checks every such exec).
        _drop(lab, box, "true", "/usr/local/bin/syncd-ctl")
        lab.action("execute the dropped binary")
        lab.exec(box, "/usr/local/bin/syncd", "3")  # an implant stays resident
        lab.exec(box, "/usr/local/bin/syncd-ctl")  # lab.exec checks it exited 0


def _drop(lab: Lab, box: Workload, program: str, path: str) -> None:
    """Stream a host program, base64-encoded like a downloaded payload, into the container at ``path``."""
    tool = shutil.which(program) or f"/bin/{program}"
    with open(tool, "rb") as handle:
        blob = base64.b64encode(handle.read()).decode()
    lab.exec(box, "sh", "-c", f"echo '{blob}' | base64 -d > {path} && chmod 755 {path} && test -x {path}")
