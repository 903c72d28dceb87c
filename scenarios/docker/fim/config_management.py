"""Configuration management rewrites the cron entry it owns, as declared in policy."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import MANAGED_API


class ConfigManagement(Scenario):
    id = "docker.fim.config-management"
    title = "Configuration management writes its declared cron entry"
    kind = Kind.BENIGN
    backends = ("docker", "kubernetes")
    techniques = ("T1053.003",)
    expect = Expectation(silent=("stowaway.host.fim-cron",), window_s=10)
    twin = "docker.fim.cron-entry"
    tags = ("fim",)
    description = (
        "Deploys a service the configuration-management agent manages: the image the platform's pipeline "
        "built and signed (platform/managed-api), running its own command. At start the agent renders "
        "/etc/cron.d/logship, the log-shipping entry it owns, and a few seconds later converges again and "
        "rewrites it with a new schedule (a temporary copy renamed into place). "
        "detectors/policy/declared_changes.yaml declares that file for that image, so the cron rule must "
        "stay silent. The scenario reads the final entry from what the agent prints, without exec-ing into "
        "the service."
    )

    def detonate(self, lab: Lab) -> None:
        image = lab.platform_image(MANAGED_API)
        lab.action("configuration management renders its cron entry")
        box = lab.deploy(WorkloadSpec(role="api", image=image, command=(), env={"CONVERGE_AFTER_S": "4"}))
        # The agent says what it converged to on its output: the check reads the log, never execs into
        # the service (an exec is an operator's action, which on Kubernetes the audit log reports).
        expected = "converged: */5 * * * * root /usr/local/bin/logship --once"
        lab.wait_for(lambda: expected in lab.logs(box), timeout=30, what="the agent's second converge")
