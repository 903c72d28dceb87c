"""A new binary is written into a running container and executed."""

from __future__ import annotations

import base64
import hashlib
import shutil

from lab import Lab, Mount, Workload, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

# Writable places a container has: its overlay (system and temporary directories, a home cache) and a volume.
DIRECTORIES = {"usr-local-bin": "/usr/local/bin", "tmp": "/tmp", "var-tmp": "/var/tmp",
               "home-cache": "/root/.cache/sync", "volume": "/data/bin"}
LOADER = "/lib64/ld-linux-x86-64.so.2"


class DropExecute(Scenario):
    id = "docker.drop.drop-execute"
    title = "New binary written into a running container, then executed"
    kind = Kind.ADVERSARY
    techniques = ("T1105", "T1059.004")
    expect = Expectation(fires=("stowaway.host.drop-and-execute",), within_s=15, may_fire={
        "stowaway.host.exec-from-temp-dir": "A variant really drops and runs it in /tmp or /var/tmp.",
    })
    twin = "docker.drop.build-package-install"
    tags = ("drop", "execution")
    dimensions = (
        Dimension("directory", tuple(DIRECTORIES), doc="where the program is written: /usr/local/bin, /tmp, "
                  "/var/tmp, a cache under root's home (all on the container's overlay), or a volume"),
        Dimension("delivery", ("base64-shell", "python"), doc="how its bytes are written: decoded by a shell "
                  "pipeline, or written and chmod-ed from Python"),
        Dimension("run", ("exec", "loader"), doc="how it is started: exec'd, or handed to the dynamic loader run "
                  "as a program (the loader, which is in the image, becomes the process's executable)"),
    )
    description = (
        "Streams a program that is not in the image (the host's `sleep`, base64-encoded, standing in "
        "for a downloaded implant) into a running container through `docker exec`, writes it to "
        "/usr/local/bin/syncd, makes it executable and runs it for three seconds, as a resident "
        "implant would stay. Then it drops a one-shot helper the same way (the host's `true` as "
        "/usr/local/bin/syncd-ctl) and runs it: it exits within microseconds of exec, before "
        "anything can read its /proc entry. The scenario checks that both files exist in the "
        "container and ran successfully. Variants write them to /tmp, /var/tmp, a cache under root's "
        "home or a volume, decode them from Python, or run them through the dynamic loader "
        "(`/lib64/ld-linux-x86-64.so.2 <program>`)."
    )

    def detonate(self, lab: Lab) -> None:
        directory, delivery = DIRECTORIES[str(self.variant["directory"])], str(self.variant["delivery"])
        volume = Mount(source=lab.create_volume(lab.name("app-data")), target="/data", type="volume")
        box = lab.deploy(WorkloadSpec(role="app", mounts=(volume,)))
        lab.exec(box, "mkdir", "-p", directory)
        implant = _drop(lab, box, "sleep", f"{directory}/syncd", delivery)
        lab.plant("sha256", implant)  # what a responder's evidence must hold: the dropped implant's hash
        lab.plant("process", f"{directory}/syncd")
        # The one-shot helper is written before the action, so that the decisive moment stays the
        # implant's run. A program gone within microseconds of exec is attributed as well as a
        # resident one (tests/integration/test_exec_short_lived.py checks every such exec).
        _drop(lab, box, "true", f"{directory}/syncd-ctl", delivery)
        run = (LOADER,) if self.variant["run"] == "loader" else ()
        lab.action("execute the dropped binary")
        lab.exec(box, *run, f"{directory}/syncd", "3")  # an implant stays resident
        lab.exec(box, *run, f"{directory}/syncd-ctl")  # lab.exec checks it exited 0


def _drop(lab: Lab, box: Workload, program: str, path: str, delivery: str) -> str:
    """Stream a host program, base64-encoded like a downloaded payload, into the container at
    ``path``. Returns the payload's sha256."""
    tool = shutil.which(program) or f"/bin/{program}"
    with open(tool, "rb") as handle:
        payload = handle.read()
    blob = base64.b64encode(payload).decode()
    if delivery == "python":
        write = (f"import base64, os, sys; open({path!r}, 'wb').write(base64.b64decode(sys.stdin.read())); "
                 f"os.chmod({path!r}, 0o755)")
        lab.exec(box, "sh", "-c", f"echo '{blob}' | python3 -c \"{write}\" && test -x {path}")
    else:
        lab.exec(box, "sh", "-c", f"echo '{blob}' | base64 -d > {path} && chmod 755 {path} && test -x {path}")
    return hashlib.sha256(payload).hexdigest()
