"""A payload dressed as a classic-builder RUN step: no network, log driver none, image by id."""

from __future__ import annotations

from lab import Lab, Logging, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class BuildStepLookalike(Scenario):
    id = "docker.logging.build-step-lookalike"
    title = "Payload started like a classic image-build step: no network, log driver none, image by id"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1610")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.logging-disabled",), within_s=15)
    twin = "docker.drop.build-package-install"
    tags = ("logging", "defense-evasion", "forged-sanction")
    description = (
        "Starts a container exactly the way the engine's classic builder starts a RUN step: the image "
        "referenced by its sha256 id, no network, the log driver none, `/bin/sh -c` as the command. (The "
        "logging policy once sanctioned that shape as an image build; anyone can start it.) Its payload "
        "copies an account database from a host directory it mounts read-only into a hidden file of its own "
        "and stays up. The scenario checks the copy exists in the container."
    )

    def detonate(self, lab: Lab) -> None:
        image_id = lab.image_id(lab.image)
        source = lab.host_dir("etc")
        (source / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\nsvc:x:998:998::/home/svc:/bin/sh\n")
        lab.action("start a payload dressed as a build step")
        step = lab.deploy(WorkloadSpec(
            role="step", image=image_id, network_mode="none", logging=Logging(driver="none"),
            mounts=(Mount(source=str(source), target="/mnt/etc", read_only=True),),
            command=("/bin/sh", "-c", "cp /mnt/etc/passwd /tmp/.cache-accounts && exec sleep infinity")))
        lab.wait_for(lambda: lab.exec(step, "test", "-s", "/tmp/.cache-accounts", check=False).exit_code == 0,
                     timeout=10, what="the payload's copy")
