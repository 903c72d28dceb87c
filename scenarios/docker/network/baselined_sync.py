"""A batch service keeps talking to the peer its baseline already holds."""

from __future__ import annotations

import time

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

WARM_UP_S = 13  # longer than the detectors' 10 s learning window for a new service
JOB = ("python3", "-c", "import random,socket,sys,time\n"
       "while True:\n"
       "    try:\n"
       "        s=socket.create_connection((sys.argv[1],5432),timeout=2); s.sendall(b'COPY report;\\n'); s.close()\n"
       "    except OSError: pass\n"
       "    time.sleep(1.5*random.uniform(0.7,1.3))\n")


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
        "Deploys the ledger database stand-in (socat on 5432) and a batch-tier sync job on the LAN that "
        "connects to it every 1.5 s +-30 %, the same rhythm as the beacon in its adversary twin. The job runs "
        f"through its {WARM_UP_S} s warm-up (so the detectors learn its peer, which the stored baseline under "
        "detectors/baselines/ also lists) and keeps going through the watch window. The scenario checks the "
        "database really received the job's connections."
    )

    def detonate(self, lab: Lab) -> None:
        db = lab.deploy(WorkloadSpec(role="ledger-db", networks=("lan",), labels={"app": "ledger-db", "tier": "data"},
                                     command=("socat", "-u", "TCP-LISTEN:5432,fork,reuseaddr",
                                              "OPEN:/tmp/received,creat,append")))
        lab.deploy(WorkloadSpec(role="sync", networks=("lan",), labels={"app": "report-sync", "tier": "batch"},
                                command=(*JOB, db.addresses["lan"])))
        time.sleep(WARM_UP_S)
        lab.action("the sync job keeps its usual schedule after its warm-up")
        lab.wait_for(lambda: lab.exec(db, "sh", "-c", "grep -c COPY /tmp/received || true").output.strip() not in
                     ("", "0"), timeout=10, what="the job's connections to reach the database")
