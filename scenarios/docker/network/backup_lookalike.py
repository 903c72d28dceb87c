"""A copy of the backup agent, built on the host, ships a 16 MB archive out over rsync's port."""

from __future__ import annotations

from lab import Lab, Workload, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import VAULT_BACKUP, rebuilt

ARCHIVE_BYTES = 16_000_000


class BackupLookalike(Scenario):
    id = "docker.network.backup-lookalike"
    title = "Look-alike of the declared backup agent, built on the host, ships 16 MB out over port 873"
    kind = Kind.ADVERSARY
    techniques = ("T1041", "T1048", "T1036.005")
    backends = ("docker",)
    expect = Expectation(
        fires=("stowaway.analytic.net-volume", "stowaway.net.egress-not-allowlisted"), within_s=25,
        may_fire={
            "stowaway.docker.image-impersonation": "Its image carries the backup agent's pipeline repository "
                                                   "name (platform/vault-backup) without the pipeline's signature.",
            "stowaway.net.process-egress-not-allowlisted": "Its transfer really leaves for the lab internet, "
                                                           "which the kernel sensor sees from the process.",
        })
    twin = "docker.network.backup-transfer"
    forges = ("egress/sanctioned_egress/offsite-backup",)
    tags = ("network", "exfiltration", "forged-sanction")
    description = (
        "Copies everything the declared backup agent shows: the agent's own Dockerfile plus one step of its "
        "own, built on the host (unsigned), and tagged platform/vault-backup, the agent's labels (app=vault-"
        "backup, tier=infra), its networks (the LAN and the lab internet) and its own command, pointed at a "
        "receiver on the lab internet listening on 873, the port the sanction allows. Its schedule is "
        "triggered the way the twin's is, and it streams a 16 MB archive out. The scenario checks the "
        "receiver stored every byte."
    )

    def detonate(self, lab: Lab) -> None:
        receiver = lab.deploy(WorkloadSpec(role="vault", networks=("inet",),
                                           command=("socat", "-u", "TCP-LISTEN:873,fork,reuseaddr",
                                                    "OPEN:/tmp/archive,creat,append")))
        image = lab.build_image(rebuilt(VAULT_BACKUP), tag=f"{VAULT_BACKUP.repository}:latest")
        agent = lab.deploy(WorkloadSpec(role="backup", image=image, command=(), networks=("lan", "inet"),
                                        labels={"app": "vault-backup", "tier": "infra"},
                                        env={"VAULT_HOST": receiver.addresses["inet"],
                                             "ARCHIVE_BYTES": str(ARCHIVE_BYTES)}))
        lab.action("the look-alike ships an archive out over the backup port")
        lab.exec(agent, "touch", "/run/backup/now")
        lab.wait_for(lambda: _stored(lab, receiver) >= ARCHIVE_BYTES, timeout=60, what="the archive at the receiver")


def _stored(lab: Lab, receiver: Workload) -> int:
    size = lab.exec(receiver, "sh", "-c", "stat -c %s /tmp/archive 2>/dev/null || echo 0").output.strip()
    return int(size) if size.isdigit() else 0
