"""The declared backup agent ships a large archive to the offsite vault."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

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
        "agent on the LAN and the lab internet with the workload labels the egress policy declares for "
        "offsite backups. The agent streams a 16 MB archive (a tar of /usr, cut to size) to the vault, twice "
        "the adversary twin's burst. The scenario checks the vault stored every byte."
    )

    def detonate(self, lab: Lab) -> None:
        vault = lab.deploy(WorkloadSpec(role="vault", networks=("inet",),
                                        command=("socat", "-u", "TCP-LISTEN:873,fork,reuseaddr",
                                                 "OPEN:/tmp/archive,creat,append")))
        agent = lab.deploy(WorkloadSpec(role="backup", networks=("lan", "inet"),
                                        labels={"app": "vault-backup", "tier": "infra"}))
        target = vault.addresses["inet"]
        lab.action("the backup agent ships the nightly archive to the vault")
        lab.exec(agent, "sh", "-c", f"for i in 1 2 3 4 5 6 7 8 9 10; do tar -C /usr -cf - . 2>/dev/null | "
                                    f"head -c {ARCHIVE_BYTES} | nc -w 5 -q 2 {target} 873 && exit 0; sleep 0.5; "
                                    "done; exit 1", timeout=90)
        lab.wait_for(lambda: lab.exec(vault, "sh", "-c", "stat -c %s /tmp/archive 2>/dev/null || echo 0")
                     .output.strip().isdigit() and int(lab.exec(vault, "sh", "-c", "stat -c %s /tmp/archive").output)
                     >= ARCHIVE_BYTES, timeout=15, what="the archive to land in the vault")
