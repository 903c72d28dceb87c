"""A container that claims to be the report-sync job copies from the ledger database."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import LEDGER_DB

COPY = ("python3", "-c", "import random,socket,sys,time\n"
        "while True:\n"
        "    try:\n"
        "        s=socket.create_connection((sys.argv[1],5432),timeout=2); s.sendall(b'COPY ledger;\\n'); s.close()\n"
        "    except OSError: pass\n"
        "    time.sleep(1.5*random.uniform(0.7,1.3))\n")


class SyncLookalike(Scenario):
    id = "docker.network.sync-lookalike"
    title = "Container claiming to be the report-sync job copies from the ledger database"
    kind = Kind.ADVERSARY
    techniques = ("T1071", "T1036.005")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.analytic.net-new-peer",), within_s=20)
    twin = "docker.network.baselined-sync"
    forges = ("network-baseline/stored_baselines/report-sync",)
    tags = ("network", "baseline", "forged-sanction")
    description = (
        "Deploys the ledger database (the platform's signed image) and, beside it, a container that copies "
        "what the report-sync job shows: its labels (app=report-sync, tier=batch), its role name and its "
        "rhythm, one connection to the database's port 5432 every 1.5 s +-30 %. It runs the plain base image "
        "with a copier of its own, not the platform's report-sync image, whose reviewed baseline allows "
        "that peer. The scenario checks the database received its requests."
    )

    def detonate(self, lab: Lab) -> None:
        db = lab.deploy(WorkloadSpec(role="ledger-db", image=lab.platform_image(LEDGER_DB), command=(),
                                     networks=("lan",), labels={"app": "ledger-db", "tier": "data"}))
        lab.action("the look-alike starts copying from the ledger database")
        lab.deploy(WorkloadSpec(role="sync", networks=("lan",), labels={"app": "report-sync", "tier": "batch"},
                                command=(*COPY, db.addresses["lan"])))
        lab.wait_for(lambda: lab.exec(db, "sh", "-c", "grep -c 'COPY ledger' /tmp/received || true").output.strip()
                     not in ("", "0"), timeout=15, what="the look-alike's requests at the database")
