"""The approved deployer rolls out a new version of a declared web service."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.swarm._swarm import swarm_networks, wait_converged

SERVE = "echo \"serving version $APP_VERSION\"; exec python3 -m http.server 8080 --directory /usr/share/doc"


class ApprovedRollout(Scenario):
    id = "swarm.tamper.approved-rollout"
    title = "Approved rollout of a declared Swarm service (new version, more replicas)"
    kind = Kind.BENIGN
    techniques = ("T1610", "T1543.005")
    backends = ("docker", "swarm")
    expect = Expectation(silent=("stowaway.analytic.swarm-service-drift", "stowaway.swarm.service-logging-disabled",
                                 "stowaway.swarm.unmanaged-container", "stowaway.docker.unapproved-image"),
                         window_s=10)
    twin = "swarm.tamper.service-spec-drift"
    tags = ("swarm", "rollout")
    description = (
        "Creates a web service the orchestration policy declares (web-*: the platform base image, "
        "json-file logging, no host mounts) at version 1.0 with one replica, then rolls it out as "
        "the approved deployer does: version 1.1 in its environment and two replicas, same image "
        "and logging. The scenario waits until both new tasks run. No rule may fire."
    )

    def detonate(self, lab: Lab) -> None:
        swarm_networks(lab)
        web = lab.deploy(WorkloadSpec(role="web", env={"APP_VERSION": "1.0"}, command=("sh", "-c", SERVE)),
                         backend="swarm")
        lab.action("roll out version 1.1 with two replicas")
        lab.update_service(web, env={"APP_VERSION": "1.1"}, replicas=2)
        wait_converged(lab, web, replicas=2)
