"""A modified image is tagged with the approved repository's name: it looks approved, it is not."""

from __future__ import annotations

import secrets

from lab import Lab, LabError, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.deploy._build import build_on_host

DOCKERFILE = """\
FROM {base}
RUN printf '#!/bin/sh\\nexec python3 -m http.server 8080 --directory /srv\\n' > /usr/local/bin/web \\
    && chmod 0755 /usr/local/bin/web && mkdir -p /srv && echo ok > /srv/health
"""


class RetaggedImage(Scenario):
    id = "docker.deploy.retagged-image"
    title = "Image re-tagged under the approved repository name with a different id"
    kind = Kind.ADVERSARY
    techniques = ("T1036.005", "T1610")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.image-impersonation",), within_s=15)
    twin = "docker.deploy.approved-image"
    tags = ("deploy", "masquerade", "defense-evasion")
    description = (
        "Builds a modified image on the host from the lab base image and tags it into the approved "
        "repository (`stowaway/base:<something>`), so its name matches the image policy while its "
        "id is not one the pipeline published. It runs a web server from that tag and fetches from "
        "it. The scenario checks the tag's id differs from the approved base image's id and that "
        "the server answers; the tag and image are removed afterwards."
    )

    def detonate(self, lab: Lab) -> None:
        repository = lab.image.rsplit(":", 1)[0]
        tag = f"{repository}:stable-{secrets.token_hex(3)}"
        image_id = build_on_host(lab, tag, DOCKERFILE.format(base=lab.image))
        if image_id == lab.image_id(lab.image):
            raise LabError("the re-tagged image has the approved id: nothing was changed")
        lab.action("run a container from a re-tagged image under the approved name")
        web = lab.deploy(WorkloadSpec(role="web", image=tag, command=("/usr/local/bin/web",)))
        client = lab.deploy(WorkloadSpec(role="web-check"))
        url = f"http://{web.addresses['lan']}:8080/health"
        fetch = f"for i in 1 2 3 4 5 6; do curl -sf -m 2 {url} && exit 0; sleep 1; done; exit 1"
        lab.exec(client, "sh", "-c", fetch)
