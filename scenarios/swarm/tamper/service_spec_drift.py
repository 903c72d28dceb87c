"""A declared Swarm service is updated to a host-built image, logging off and a writable host mount."""

from __future__ import annotations

import secrets

from lab import Lab, LabError, Logging, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.deploy._build import build_on_host
from scenarios.swarm._swarm import running_container, swarm_networks, wait_converged

DOCKERFILE = """\
FROM {base}
RUN printf '#!/bin/sh\\nwhile true; do cp /etc/hostname /etc/os-release /data/ 2>/dev/null; sleep 2; done\\n' \\
    > /usr/local/bin/sync-agent && chmod 0755 /usr/local/bin/sync-agent
"""


class ServiceSpecDrift(Scenario):
    id = "swarm.tamper.service-spec-drift"
    title = "Declared Swarm service updated to an undeclared image, no logging and a host mount"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1562.001", "T1543.005", "T1612")
    backends = ("docker", "swarm")
    # argv0-mismatch also fires on the new task (a shell script run by its interpreter): a known
    # misfire of that rule, left unlisted on purpose so it stays visible until the rule is fixed.
    expect = Expectation(fires=("stowaway.analytic.swarm-service-drift",), within_s=30, may_fire={
        "stowaway.swarm.service-logging-disabled":
            "Its update really sets the service's log driver to none.",
        "stowaway.docker.logging-disabled":
            "The task its update starts really runs with the log driver none.",
        "stowaway.docker.unapproved-image":
            "Its update really runs the service from an image built on the host, which no pipeline published.",
    })
    twin = "swarm.tamper.approved-rollout"
    tags = ("swarm", "tamper", "defense-evasion")
    description = (
        "Creates a declared web service (web-*) the way the platform runs it, then, with manager "
        "access, updates it in place: the image becomes one built on the host, the log driver "
        "`none`, and a lab-owned host directory is bind-mounted writable at /data. The new task "
        "copies files into /data. The scenario checks the update converged and that the files "
        "arrived in the host directory."
    )

    def detonate(self, lab: Lab) -> None:
        swarm_networks(lab)
        tag = f"web-sync:{secrets.token_hex(3)}"
        build_on_host(lab, tag, DOCKERFILE.format(base=lab.image))
        exports = lab.host_dir("exports")
        web = lab.deploy(WorkloadSpec(role="web", command=("python3", "-m", "http.server", "8080", "--directory",
                                                           "/usr/share/doc")), backend="swarm")
        lab.action("update the service to an undeclared spec")
        lab.update_service(web, image=tag, command=("/usr/local/bin/sync-agent",), logging=Logging(driver="none"),
                           mounts=(Mount(source=str(exports), target="/data"),))
        wait_converged(lab, web, replicas=1)
        running_container(lab, web)
        lab.wait_for(lambda: (exports / "os-release").exists(), timeout=15, what="the new task to write to the host")
        if not (exports / "hostname").exists():
            raise LabError("the updated task did not write into the host directory")
