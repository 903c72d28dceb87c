"""Configuration management rewrites the cron entry it owns, as declared in policy."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class ConfigManagement(Scenario):
    id = "docker.fim.config-management"
    title = "Configuration management writes its declared cron entry"
    kind = Kind.BENIGN
    techniques = ("T1053.003",)
    expect = Expectation(silent=("stowaway.host.fim-cron",), window_s=10)
    twin = "docker.fim.cron-entry"
    tags = ("fim",)
    description = (
        "Deploys a service managed by the configuration-management agent (label "
        "app.kubernetes.io/managed-by=confd). The agent converges: it renders /etc/cron.d/logship, "
        "the log-shipping entry it owns, then rewrites it with a new schedule, as a converge run does. "
        "detectors/policy/declared_changes.yaml declares that file for that context, so the cron "
        "rule must stay silent. The scenario checks the final entry is in place."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="api", labels={"app.kubernetes.io/managed-by": "confd"}))
        lab.action("configuration management renders its cron entry")
        lab.exec(box, "sh", "-c", "echo '*/10 * * * * root /usr/local/bin/logship --once' > /etc/cron.d/logship")
        lab.exec(box, "sh", "-c", "echo '*/5 * * * * root /usr/local/bin/logship --once' > /etc/cron.d/.logship.tmp "
                 "&& mv /etc/cron.d/.logship.tmp /etc/cron.d/logship && grep -q '^\\*/5' /etc/cron.d/logship")
