"""A payload balloons a container's memory and holds it."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

BALLOON_MIB = 400
HOLD_S = 30


class MemoryBalloon(Scenario):
    id = "docker.resources.memory-balloon"
    title = "Memory balloon in a container with no resource baseline"
    kind = Kind.ADVERSARY
    techniques = ("T1496",)
    expect = Expectation(fires=("stowaway.analytic.memory-spike",), within_s=30)
    twin = "docker.resources.peak-hours-report"
    tags = ("resources", "impact")
    description = (
        f"Deploys a container whose payload allocates {BALLOON_MIB} MiB, touches every page so it is "
        f"really resident, and holds it for {HOLD_S} s. The scenario checks the container's memory "
        "use through the engine's own view (docker top RSS) before returning."
    )

    def detonate(self, lab: Lab) -> None:
        payload = (
            "import time\n"
            f"blob = bytearray({BALLOON_MIB} * 1024 * 1024)\n"
            "for i in range(0, len(blob), 4096): blob[i] = 1\n"
            "open('/tmp/ready', 'w').write('1')\n"
            f"time.sleep({HOLD_S})\n"
        )
        lab.action("allocate and hold a memory balloon")
        worker = lab.deploy(WorkloadSpec(role="cache", command=("python3", "-c", payload)))
        lab.wait_for(lambda: lab.exec(worker, "test", "-e", "/tmp/ready", check=False).exit_code == 0,
                     timeout=20, what="the balloon to be allocated")
        rss = lab.exec(worker, "sh", "-c", "ps -o rss= -C python3").output.split()
        if not rss or int(rss[0]) < BALLOON_MIB * 1024 * 0.9:
            raise RuntimeError(f"the balloon is not resident: rss {rss}")
