"""A miner-like payload saturates a core in a container of an unknown workload, for a bounded time."""

from __future__ import annotations

from lab import Lab, Resources, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

BURN_S = 40  # bounded: the payload stops by itself even if nothing else does


class CpuMiner(Scenario):
    id = "docker.resources.cpu-miner"
    title = "Miner-like CPU saturation in a container with no resource baseline"
    kind = Kind.ADVERSARY
    backends = ("docker", "kubernetes")
    techniques = ("T1496", "T1496.001")
    expect = Expectation(fires=("stowaway.analytic.cpu-spike",), within_s=40, may_fire={
        "stowaway.k8s.exec-into-pod": "On Kubernetes the operator really runs its commands in the pod with "
                                      "kubectl exec.",
    })
    twin = "docker.resources.peak-hours-report"
    cpu_bound = True
    tags = ("resources", "impact")
    dimensions = (
        Dimension("grinders", (2, 1), doc="how many processes grind at once (one per core it can get, or one)"),
        Dimension("tool", ("python", "sha256sum", "b2sum"), doc="what grinds: a Python hash loop, or coreutils "
                  "sha256sum or b2sum (BLAKE2) over an endless stream"),
    )
    description = (
        f"Deploys a container (no workload label, so no baseline) whose payload hashes in a tight loop "
        f"for {BURN_S} s in two processes, the way a CPU miner grinds proof-of-work, capped at two cores. The scenario "
        "checks that the payload really burned CPU (its own counter of hashes) before returning. Variants "
        "grind in one process, or with sha256sum or b2sum instead of Python."
    )

    def detonate(self, lab: Lab) -> None:
        grinders, tool = int(self.variant["grinders"]), str(self.variant["tool"])
        lab.action("start a CPU-saturating hash loop")
        worker = lab.deploy(WorkloadSpec(role="worker", command=_payload(tool, grinders),
                                         resources=Resources(cpus=2.0)))
        lab.wait_for(lambda: lab.exec(worker, "sh", "-c", "cat /tmp/hashes 2>/dev/null || echo 0", check=False)
                     .output.strip() not in ("", "0"), timeout=20, what="the hash loop to make progress")


def _payload(tool: str, grinders: int) -> tuple[str, ...]:
    """The grinding command. No comment inside a program: its text is the container's command line,
    which the sensors see. Every one counts its progress in /tmp/hashes, and stops after BURN_S."""
    if tool == "python":
        return ("python3", "-c", "import hashlib, os, time\n" + "os.fork()\n" * (grinders - 1) +
                f"end = time.time() + {BURN_S}; n = 0; h = b'block'\n"
                "while time.time() < end:\n"
                "    h = hashlib.sha256(h).digest(); n += 1\n"
                "    if n % 200000 == 0: open('/tmp/hashes', 'w').write(str(n))\n")
    grind = f"timeout {BURN_S} {tool} /dev/zero"
    return ("sh", "-c", " & ".join([grind] * grinders) + " & "
            "sleep 2; grep -h rchar /proc/[0-9]*/io 2>/dev/null | sort -k2 -n | tail -1 | cut -d' ' -f2 "
            "> /tmp/hashes; wait")
