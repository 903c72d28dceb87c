"""A miner dressed as the platform's CI runner grinds two cores."""

from __future__ import annotations

from lab import Lab, Resources, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import CI_RUNNER, rebuilt

BURN_S = 40  # bounded: the payload stops by itself even if nothing else does
# Two processes, as a CPU miner runs one worker per core it can get.
GRIND = (
    "import hashlib, os, time\n"
    "os.fork()\n"
    f"end = time.time() + {BURN_S}; n = 0; h = b'block'\n"
    "while time.time() < end:\n"
    "    h = hashlib.sha256(h).digest(); n += 1\n"
    "    if n % 200000 == 0: open('/run/ci/builds', 'w').write(str(n))\n"
)


class CiRunnerLookalike(Scenario):
    id = "docker.resources.ci-runner-lookalike"
    title = "Miner dressed as the platform's CI runner grinds two cores"
    kind = Kind.ADVERSARY
    techniques = ("T1496", "T1496.001", "T1036.005")
    backends = ("docker",)
    expect = Expectation(
        fires=("stowaway.analytic.cpu-spike",), within_s=40,
        may_fire={"stowaway.docker.image-impersonation": "Its image carries the CI runner's pipeline repository "
                                                         "name (platform/ci-runner) without the pipeline's signature."})
    twin = "docker.resources.ci-build"
    forges = ("resources/sanctioned_heavy_workloads/ci-runners",)
    cpu_bound = True
    tags = ("resources", "impact", "forged-sanction")
    description = (
        "Copies what the sanctioned CI runner shows: the runner's own Dockerfile plus one step of its own, "
        "built on the host (unsigned) and tagged platform/ci-runner, the runner's name and its two-core "
        f"limit. In it, a payload hashes in a tight loop for {BURN_S} s in two processes, the way a CPU miner "
        "grinds proof-of-work. The scenario checks the payload really made progress (its own hash counter)."
    )

    def detonate(self, lab: Lab) -> None:
        image = lab.build_image(rebuilt(CI_RUNNER), tag=f"{CI_RUNNER.repository}:latest")
        runner = lab.deploy(WorkloadSpec(role="ci-runner", image=image, command=(), resources=Resources(cpus=2.0)))
        lab.action("start grinding in the runner look-alike")
        lab.exec(runner, "python3", "-c", GRIND, detach=True)
        lab.wait_for(lambda: lab.exec(runner, "sh", "-c", "cat /run/ci/builds 2>/dev/null || echo 0", check=False)
                     .output.strip() not in ("", "0"), timeout=25, what="the hash loop to make progress")
