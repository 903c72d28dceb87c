"""The platform's CI runner builds with the two cores it is given, as its sanction allows."""

from __future__ import annotations

from lab import Lab, Resources, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import CI_RUNNER

BUILD_S = 30


class CiBuild(Scenario):
    id = "docker.resources.ci-build"
    title = "The platform's CI runner compiles with two cores, within its sanctioned budget"
    kind = Kind.BENIGN
    techniques = ("T1496.001",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.analytic.cpu-spike", "stowaway.analytic.memory-spike"),
                         window_s=BUILD_S + 5)
    twin = "docker.resources.ci-runner-lookalike"
    cpu_bound = True
    tags = ("resources",)
    description = (
        "Deploys the platform's CI runner: the image its pipeline built and signed (platform/ci-runner), "
        "running its own command, limited to two cores. A job arrives (the scenario touches the runner's "
        f"trigger file, as the CI scheduler does) and the runner builds for {BUILD_S} s: it byte-compiles a "
        "copy of the Python standard library with two workers, over and over. detectors/policy/"
        "resources.yaml sanctions that image with a two-core budget, so the resource analytics must stay "
        "silent. The scenario checks the runner completed builds."
    )

    def detonate(self, lab: Lab) -> None:
        runner = lab.deploy(WorkloadSpec(role="ci-runner", image=lab.platform_image(CI_RUNNER), command=(),
                                         env={"BUILD_SECONDS": str(BUILD_S)}, resources=Resources(cpus=2.0)))
        lab.action("a CI job starts on the runner")
        lab.exec(runner, "touch", "/run/ci/job")
        lab.wait_for(lambda: lab.exec(runner, "sh", "-c", "cat /run/ci/builds 2>/dev/null || echo 0", check=False)
                     .output.strip() not in ("", "0"), timeout=BUILD_S + 60, what="the runner's builds")
