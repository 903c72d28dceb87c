"""On a Swarm node, a container is started by hand on a service overlay, next to the services."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.swarm._swarm import swarm_networks


class ContainerOutsideOrchestrator(Scenario):
    id = "swarm.deploy.container-outside-orchestrator"
    title = "Container started by hand on a Swarm node's service overlay, bypassing the orchestrator"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1036.005")
    backends = ("docker", "swarm")
    expect = Expectation(fires=("stowaway.swarm.unmanaged-container",), within_s=15)
    twin = "swarm.tamper.approved-rollout"
    tags = ("deploy", "swarm", "defense-evasion")
    description = (
        "Creates a web service through Swarm on the run's internal LAN overlay, then starts a plain "
        "container directly on the node's engine (no service, no task), attached to the same "
        "overlay, and from it fetches pages from the service's task. The scenario checks the "
        "fetch works, so the hand-started container really sits among the services."
    )

    def detonate(self, lab: Lab) -> None:
        swarm_networks(lab)
        web = lab.deploy(WorkloadSpec(role="web", command=("python3", "-m", "http.server", "8080", "--directory",
                                                           "/usr/share/doc")), backend="swarm")
        lab.action("start a container by hand on the service overlay")
        box = lab.deploy(WorkloadSpec(role="web-cache"), backend="docker", network_scope="swarm")
        url = f"http://{web.addresses['lan']}:8080/"
        lab.exec(box, "sh", "-c", f"for i in 1 2 3 4 5 6 7 8; do curl -sf -m 2 -o /dev/null {url} && exit 0; "
                 "sleep 1; done; exit 1")
