"""A payload with its logs thrown away, on a network its owner named like the sanctioned dev network."""

from __future__ import annotations

import secrets

from lab import Lab, Logging, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class DevNetworkLookalike(Scenario):
    id = "docker.logging.dev-network-lookalike"
    title = "Payload with log driver none on a self-made network named like the dev network"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1610")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.logging-disabled",), within_s=15)
    twin = "docker.logging.dev-minimal-logging"
    forges = ("logging/sanctioned_minimal_logging/dev-experiments",)
    tags = ("logging", "defense-evasion", "forged-sanction")
    description = (
        "Creates its own internal network with the engine (anyone with the engine socket can) and names it "
        "like the platform's dev network (<word>-dev), then runs two containers on it only, both with the log "
        "driver none, as the sanctioned dev experiments do. One collects host details (uname, id, the "
        "process list, the mounts) every two seconds and serves them over HTTP; the other fetches them. "
        "The scenario checks the data really went from one to the other."
    )

    def detonate(self, lab: Lab) -> None:
        network = lab.create_network(f"scratch{secrets.token_hex(2)}-dev")
        lab.action("run a payload with log driver none on the self-made dev-like network")
        collector = lab.deploy(WorkloadSpec(
            role="scratch", networks=(network,), logging=Logging(driver="none"),
            command=("sh", "-c", "mkdir -p /srv/out; while true; do { uname -a; id; ps -eo pid,comm; "
                                 "cat /proc/mounts; } > /srv/out/host.txt; sleep 2; done & "
                                 "exec python3 -m http.server 8000 --directory /srv/out")))
        client = lab.deploy(WorkloadSpec(role="scratch-client", networks=(network,), logging=Logging(driver="none")))
        address = collector.addresses[network]
        lab.exec(client, "sh", "-c", f"for i in 1 2 3 4 5 6 7 8; do curl -sf -m 2 http://{address}:8000/host.txt "
                                     "| grep -q uid= && exit 0; sleep 1; done; exit 1")
