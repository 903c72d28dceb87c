"""A payload arrives in a running service's container and balloons its memory."""

from __future__ import annotations

import time

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

BALLOON_MIB = 400
HOLD_S = 30
# A balloon is growth: the service runs its ordinary small footprint for a while first (the memory
# analytic learns a workload without history from its first 10 s) before the payload arrives.
SERVICE_S = 13
SERVICE = ("python3", "-m", "http.server", "8080", "--directory", "/usr/share/doc")
BALLOON = (
    "import time\n"
    f"blob = bytearray({BALLOON_MIB} * 1024 * 1024)\n"
    "for i in range(0, len(blob), 4096): blob[i] = 1\n"
    "open('/tmp/.ready', 'w').write('1')\n"
    f"time.sleep({HOLD_S})\n"
)


class MemoryBalloon(Scenario):
    id = "docker.resources.memory-balloon"
    title = "Memory balloon in a running container with no resource baseline"
    kind = Kind.ADVERSARY
    backends = ("docker", "kubernetes")
    techniques = ("T1496",)
    expect = Expectation(fires=("stowaway.analytic.memory-spike",), within_s=30, may_fire={
        "stowaway.k8s.exec-into-pod": "On Kubernetes the operator really runs its commands in the pod with "
                                      "kubectl exec.",
    })
    twin = "docker.resources.preloaded-cache"
    tags = ("resources", "impact")
    description = (
        "Deploys a small web service (python3 http.server, tens of MiB, no workload label, so no "
        f"baseline) and lets it run {SERVICE_S} s. Then a program started in its container allocates "
        f"{BALLOON_MIB} MiB, touches every page so it is really resident, and holds it for {HOLD_S} s: the "
        "container's memory grows more than tenfold over what it held so far. The scenario checks the "
        "program's resident size (ps RSS) before returning."
    )

    def detonate(self, lab: Lab) -> None:
        web = lab.deploy(WorkloadSpec(role="web", command=SERVICE))
        lab.wait_for(lambda: lab.exec(web, "curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:8080/",
                                      check=False).exit_code == 0, timeout=15, what="the web service to answer")
        time.sleep(max(0.0, SERVICE_S - (time.time() - lab.started_at)))
        lab.action("allocate and hold a memory balloon in the running service's container")
        lab.exec(web, "python3", "-c", BALLOON, detach=True)
        lab.wait_for(lambda: lab.exec(web, "test", "-e", "/tmp/.ready", check=False).exit_code == 0,
                     timeout=20, what="the balloon to be allocated")
        rss = [int(v) for v in lab.exec(web, "sh", "-c", "ps -o rss= -C python3").output.split()]
        if not rss or max(rss) < BALLOON_MIB * 1024 * 0.9:
            raise RuntimeError(f"the balloon is not resident: rss {rss}")
