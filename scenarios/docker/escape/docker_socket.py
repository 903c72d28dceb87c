"""A container with the engine's API socket mounted drives the engine from inside."""

from __future__ import annotations

import json

from lab import Lab, LabError, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario, ScenarioSkipped


class DockerSocket(Scenario):
    id = "docker.escape.docker-socket"
    title = "Container with the engine socket mounted lists and inspects the node's containers"
    kind = Kind.ADVERSARY
    techniques = ("T1611", "T1609", "T1613")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.sensitive-host-mount",), within_s=15)
    twin = "docker.escape.monitoring-agent"
    tags = ("escape", "discovery")
    description = (
        "Deploys a container with the lab engine's API socket bind-mounted at /var/run/docker.sock. "
        "From inside, it calls the engine API with curl over the socket: lists every container on "
        "the node and reads the engine's version, the first steps before starting a privileged "
        "container on the host. The scenario checks the listing includes the container itself."
    )

    def detonate(self, lab: Lab) -> None:
        socket = lab.engine_socket()
        if socket is None:
            raise ScenarioSkipped("the lab engine has no local socket to mount (a TCP engine)")
        socket_path = str(socket)
        lab.action("deploy a container with the engine socket mounted")
        box = lab.deploy(WorkloadSpec(role="ci-runner", mounts=(Mount(source=socket_path,
                                                                     target="/var/run/docker.sock"),)))
        listing = lab.exec(box, "curl", "-s", "--unix-socket", "/var/run/docker.sock",
                           "http://engine/containers/json").output
        lab.exec(box, "curl", "-s", "--unix-socket", "/var/run/docker.sock", "http://engine/version")
        try:
            ids = {c["Id"] for c in json.loads(listing)}
        except (ValueError, KeyError, TypeError) as exc:
            raise LabError(f"the engine API did not answer through the socket: {listing[:200]!r}") from exc
        if box.id not in ids:
            raise LabError("the listing through the socket does not include the container itself")
