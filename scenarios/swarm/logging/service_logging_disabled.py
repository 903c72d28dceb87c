"""A Swarm service is deployed with its log driver set to none."""

from __future__ import annotations

from lab import Lab, LabError, Logging, LogsUnavailable, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.swarm._swarm import swarm_networks


class ServiceLoggingDisabled(Scenario):
    id = "swarm.logging.service-logging-disabled"
    title = "Swarm service deployed with logging disabled"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1610")
    backends = ("docker", "swarm")
    expect = Expectation(fires=("stowaway.swarm.service-logging-disabled", "stowaway.docker.logging-disabled"),
                         within_s=20)
    twin = "swarm.tamper.approved-rollout"
    tags = ("logging", "swarm", "defense-evasion")
    description = (
        "Creates a Swarm service on the lab engine (initialising a single-node Swarm if needed) on "
        "the run's internal LAN overlay, with the log driver `none`. Its task collects host details "
        "into a file every two seconds. The scenario checks the task runs, the service spec says "
        "`none`, and the engine refuses to show the task's logs."
    )

    def detonate(self, lab: Lab) -> None:
        swarm_networks(lab)
        payload = "while true; do { uname -a; id; ps -eo pid,comm; } >> /tmp/collected; sleep 2; done"
        lab.action("create a swarm service with log driver none")
        service = lab.deploy(WorkloadSpec(role="worker", logging=Logging(driver="none"), command=("sh", "-c", payload)),
                             backend="swarm")
        spec = lab.inspect(service)["Spec"]
        if spec["TaskTemplate"].get("LogDriver", {}).get("Name") != "none":
            raise LabError(f"the service's log driver is not none: {spec['TaskTemplate'].get('LogDriver')}")
        lab.wait_for(lambda: lab.exec(service, "test", "-s", "/tmp/collected", check=False).exit_code == 0,
                     timeout=10, what="the task to collect data")
        try:
            lab.logs(service)
        except LogsUnavailable:  # the engine refusing is the expected outcome
            return
        raise LabError("the engine still serves this task's logs")
