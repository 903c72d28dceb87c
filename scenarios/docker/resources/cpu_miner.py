"""A miner-like payload saturates a core in a container of an unknown workload, for a bounded time."""

from __future__ import annotations

from lab import Lab, Resources, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

BURN_S = 40  # bounded: the payload stops by itself even if nothing else does


class CpuMiner(Scenario):
    id = "docker.resources.cpu-miner"
    title = "Miner-like CPU saturation in a container with no resource baseline"
    kind = Kind.ADVERSARY
    techniques = ("T1496", "T1496.001")
    expect = Expectation(fires=("stowaway.analytic.cpu-spike",), within_s=40)
    twin = "docker.resources.peak-hours-report"
    tags = ("resources", "impact")
    description = (
        f"Deploys a container (no workload label, so no baseline) whose payload hashes in a tight loop "
        f"for {BURN_S} s in two processes, the way a CPU miner grinds proof-of-work, capped at two cores. The scenario "
        "checks that the payload really burned CPU (its own counter of hashes) before returning."
    )

    def detonate(self, lab: Lab) -> None:
        # Two grinders (the fork), as a miner runs one thread per core it can get. No comment inside
        # the program: its text is the container's command line, which the sensors see.
        payload = (
            "import hashlib, os, time\n"
            "os.fork()\n"
            f"end = time.time() + {BURN_S}; n = 0; h = b'block'\n"
            "while time.time() < end:\n"
            "    h = hashlib.sha256(h).digest(); n += 1\n"
            "    if n % 200000 == 0: open('/tmp/hashes', 'w').write(str(n))\n"
        )
        lab.action("start a CPU-saturating hash loop")
        worker = lab.deploy(WorkloadSpec(role="worker", command=("python3", "-c", payload),
                                         resources=Resources(cpus=2.0)))
        lab.wait_for(lambda: lab.exec(worker, "sh", "-c", "cat /tmp/hashes 2>/dev/null || echo 0", check=False)
                     .output.strip() not in ("", "0"), timeout=20, what="the hash loop to make progress")
