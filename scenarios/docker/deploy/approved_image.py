"""A web server and its client run from the image the platform's pipeline published."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class ApprovedImage(Scenario):
    id = "docker.deploy.approved-image"
    title = "Workloads run from the approved, pipeline-published image"
    kind = Kind.BENIGN
    techniques = ("T1610",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.docker.unapproved-image", "stowaway.docker.image-impersonation"),
                         window_s=8)
    twin = "docker.deploy.host-built-image"
    tags = ("deploy",)
    description = (
        "Deploys a web server and a client on the LAN from the lab base image, the image the "
        "platform's build pipeline published (its id is pinned in the published image policy). The "
        "client fetches a page from the server a few times. The image rules must stay silent."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("deploy a web server from the approved image")
        web = lab.deploy(WorkloadSpec(role="web", command=("python3", "-m", "http.server", "8080", "--directory",
                                                           "/usr/share/doc")))
        client = lab.deploy(WorkloadSpec(role="web-check"))
        url = f"http://{web.addresses['lan']}:8080/"
        fetch = f"for i in 1 2 3 4 5 6; do curl -sf -m 2 -o /dev/null {url} && exit 0; sleep 1; done; exit 1"
        lab.exec(client, "sh", "-c", fetch)
