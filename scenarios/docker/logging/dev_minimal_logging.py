"""A developer's throw-away experiment on the sanctioned dev network, with no log shipping."""

from __future__ import annotations

from lab import Lab, Logging, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

LOGGING = {"none": Logging(driver="none"),
           "local-1k": Logging(driver="local", options={"max-size": "1k", "max-file": "1", "compress": "false"})}


class DevMinimalLogging(Scenario):
    id = "docker.logging.dev-minimal-logging"
    title = "Sanctioned dev experiment runs without logging on the dev network"
    kind = Kind.BENIGN
    techniques = ("T1562.001",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.docker.logging-disabled", "stowaway.docker.logging-discarded"), window_s=8)
    twin = "docker.logging.log-driver-none"
    tags = ("logging",)
    dimensions = (
        Dimension("logging", tuple(LOGGING), doc="how little the experiment logs: nothing (driver none), or a "
                  "1 KB local log"),
    )
    description = (
        "Deploys a container on the dev network that the platform policy sanctions for minimal "
        "logging (detectors/policy/logging.yaml), with the log driver `none`. It serves a scratch "
        "directory over HTTP and a second container on the same network fetches from it a few "
        "times, as a developer trying something out would. The logging rule must stay silent."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("deploy a dev container with log driver none on the dev network")
        server = lab.deploy(WorkloadSpec(
            role="scratch", networks=("dev",), logging=LOGGING[str(self.variant["logging"])],
            command=("python3", "-m", "http.server", "8000", "--directory", "/etc"),
        ))
        address = server.addresses["dev"]
        client = lab.deploy(WorkloadSpec(role="scratch-client", networks=("dev",),
                                         logging=LOGGING[str(self.variant["logging"])]))
        fetch = f"for i in 1 2 3 4 5; do curl -sf -m 2 http://{address}:8000/hostname && exit 0; sleep 1; done; exit 1"
        lab.exec(client, "sh", "-c", fetch)
