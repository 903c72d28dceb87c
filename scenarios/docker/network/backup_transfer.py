"""The declared backup agent ships a large archive to the offsite vault."""

from __future__ import annotations

from lab import Lab, Workload, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import VAULT_BACKUP

ARCHIVE_BYTES = 16_000_000


class BackupTransfer(Scenario):
    id = "docker.network.backup-transfer"
    title = "Declared backup job transfers a large archive to the offsite vault"
    kind = Kind.BENIGN
    techniques = ("T1041", "T1048")
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.analytic.net-volume", "stowaway.net.egress-not-allowlisted",
                                 "stowaway.analytic.net-relay"), window_s=10)
    twin = "docker.network.exfil-burst"
    tags = ("network", "exfiltration", "backup")
    description = (
        "Deploys an offsite vault on the lab internet (socat on port 873 appending to a file) and the backup "
        "agent on the LAN and the lab internet: the image the platform's pipeline built and signed "
        "(platform/vault-backup), running its own command, as the egress policy sanctions it. When its "
        "schedule fires (the scenario touches the agent's trigger file, as its scheduler would), the agent "
        "streams a 16 MB archive (a tar of /usr, cut to size) to the vault, twice the adversary twin's burst. "
        "The scenario checks the vault stored every byte."
    )

    def detonate(self, lab: Lab) -> None:
        vault = lab.deploy(WorkloadSpec(role="vault", networks=("inet",),
                                        command=("socat", "-u", "TCP-LISTEN:873,fork,reuseaddr",
                                                 "OPEN:/tmp/archive,creat,append")))
        agent = lab.deploy(WorkloadSpec(role="backup", image=lab.platform_image(VAULT_BACKUP), command=(),
                                        networks=("lan", "inet"), labels={"app": "vault-backup", "tier": "infra"},
                                        env={"VAULT_HOST": vault.addresses["inet"],
                                             "ARCHIVE_BYTES": str(ARCHIVE_BYTES)}))
        lab.action("the backup agent's schedule fires: it ships the nightly archive to the vault")
        lab.exec(agent, "touch", "/run/backup/now")
        lab.wait_for(lambda: _stored(lab, vault) >= ARCHIVE_BYTES, timeout=60, what="the archive to land in the vault")


def _stored(lab: Lab, vault: Workload) -> int:
    size = lab.exec(vault, "sh", "-c", "stat -c %s /tmp/archive 2>/dev/null || echo 0").output.strip()
    return int(size) if size.isdigit() else 0
