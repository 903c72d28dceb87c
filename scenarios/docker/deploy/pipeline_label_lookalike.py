"""An image built on the host carries the image pipeline's source label, then its container installs
a binary and an account, as a pipeline build step would."""

from __future__ import annotations

import base64
import shutil

from lab import BuildRecipe, Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

DOCKERFILE = """\
FROM {base}
LABEL org.opencontainers.image.source="https://git.internal.example/platform/images/reports-tools"
CMD ["sleep", "infinity"]
"""


class PipelineLabelLookalike(Scenario):
    id = "docker.deploy.pipeline-label-lookalike"
    title = "Host-built image with the pipeline's source label installs a binary and an account at run time"
    kind = Kind.ADVERSARY
    techniques = ("T1612", "T1610", "T1105", "T1136.001")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.unapproved-image", "stowaway.host.drop-and-execute",
                                "stowaway.host.fim-account-db"), within_s=20)
    twin = "docker.drop.build-package-install"
    forges = ("images/trusted_builds/platform-image-pipeline",)
    tags = ("deploy", "build", "drop", "forged-sanction")
    description = (
        "Builds an image on the host (BuildKit, offline, no pipeline, so unsigned) that carries the image "
        "pipeline's source label, org.opencontainers.image.source=https://git.internal.example/platform/"
        "images/reports-tools, the provenance a label-trusting policy would believe, and runs it. In the "
        "running container it then does what a package install in a build step does: streams a program "
        "that is not in the image into /usr/local/bin/report-render and runs it, and adds an account to "
        "/etc/passwd. The scenario checks the account and the program are there."
    )

    def detonate(self, lab: Lab) -> None:
        image = lab.build_image(BuildRecipe.of("reports-tools", DOCKERFILE), tag="reports-tools:2.3")
        lab.action("run the host-built image that carries the pipeline's label")
        box = lab.deploy(WorkloadSpec(role="reports-tools", image=image, command=()))
        tool = shutil.which("sleep") or "/bin/sleep"
        with open(tool, "rb") as handle:
            blob = base64.b64encode(handle.read()).decode()
        lab.exec(box, "sh", "-c", f"echo '{blob}' | base64 -d > /usr/local/bin/report-render && "
                                  "chmod 755 /usr/local/bin/report-render")
        lab.exec(box, "/usr/local/bin/report-render", "1")
        lab.exec(box, "sh", "-c", "echo 'reports:x:998:998::/nonexistent:/bin/sh' >> /etc/passwd && id reports")
