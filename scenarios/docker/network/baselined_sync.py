"""A batch service keeps talking to the peer its baseline already holds."""

from __future__ import annotations

import time

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import LEDGER_DB, REPORT_SYNC

WARM_UP_S = 73  # longer than the detectors' 70 s learning window for a new service


class BaselinedSync(Scenario):
    id = "docker.network.baselined-sync"
    title = "Batch service keeps its usual periodic traffic, which its baseline includes"
    kind = Kind.BENIGN
    techniques = ("T1071",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.analytic.net-new-peer", "stowaway.analytic.net-beacon"), window_s=12)
    twin = "docker.network.batch-beacon"
    tags = ("network", "beacon", "baseline")
    description = (
        "Deploys the ledger database stand-in (socat on 5432) and a batch-tier sync job on the LAN, both from "
        "images the platform's pipeline built and signed (platform/ledger-db, platform/report-sync). The job "
        "connects to the database every 1.5 s +-30 %, the same rhythm as the beacon in its adversary twin. It runs "
        f"through its {WARM_UP_S} s warm-up (so the detectors learn its peer, which the stored baseline under "
        "detectors/baselines/ also lists) and keeps going through the watch window. The scenario checks the "
        "database really received the job's connections."
    )

    def detonate(self, lab: Lab) -> None:
        db = lab.deploy(WorkloadSpec(role="ledger-db", image=lab.platform_image(LEDGER_DB), command=(),
                                     networks=("lan",), labels={"app": "ledger-db", "tier": "data"}))
        lab.deploy(WorkloadSpec(role="sync", image=lab.platform_image(REPORT_SYNC), command=(), networks=("lan",),
                                labels={"app": "report-sync", "tier": "batch"}, env={"DB_HOST": db.addresses["lan"]}))
        time.sleep(WARM_UP_S)
        lab.action("the sync job keeps its usual schedule after its warm-up")
        lab.wait_for(lambda: lab.exec(db, "sh", "-c", "grep -c COPY /tmp/received || true").output.strip() not in
                     ("", "0"), timeout=10, what="the job's connections to reach the database")
