"""The CI runner: the platform's build image (make installed from its .deb during the image build),
given a two-core budget. The CI coordinator queues the nightly pipeline a little after the soak
starts, and again every PIPELINE_EVERY_S: byte-compile the standard library at every optimisation
level and run CPython's CPU-heavy regression tests, make -j2."""

from __future__ import annotations

import re

from harness.fleet import usage
from harness.fleet.checks import pipelines
from harness.fleet.context import RUN_FOR_S, Fleet, Running
from harness.fleet.images import ASSETS, ci_runner
from harness.fleet.registry import CheckFailed, Service
from lab import Resources, WorkloadSpec

CORES = 2
PIPELINE_FIRST_AFTER_S = 10
PIPELINE_EVERY_S = 600
PIPELINE_BOUND_S = 300  # the runner's own timeout for one pipeline
HISTORY = "/var/lib/ci-runner/builds.log"
TEST_MODULES = len(re.findall(r"\btest_\w+", (ASSETS / "ci-runner" / "pipeline.mk").read_text().split("TESTS :=", 1)[1]
                                                                                  .split(".PHONY", 1)[0]))


def start_ci(fleet: Fleet) -> Running:
    image = fleet.image(ci_runner(fleet.lab.host_deb("make")))
    runner = fleet.deploy(WorkloadSpec(
        role="ci-runner", image=image, command=(), networks=("lan",),
        env={"JOBS": str(CORES), "BUILD_TIMEOUT_S": str(PIPELINE_BOUND_S), "RUN_FOR_S": str(RUN_FOR_S)},
        resources=Resources(cpus=CORES), labels={"app": "ci-runner", "tier": "ci"}))
    queued = [0]

    def coordinator_queues() -> None:
        queued[0] += 1
        fleet.lab.exec(runner, "sh", "-c", f"echo nightly > /var/lib/ci-runner/queue/{queued[0]:04d}")
    # Queued even near the end: the soak waits for the pipeline in flight before its checks.
    fleet.every("CI pipeline queued", PIPELINE_EVERY_S, PIPELINE_FIRST_AFTER_S, coordinator_queues)
    return Running("ci-runner", [runner])


def pipeline_done(fleet: Fleet, running: Running) -> bool:
    """Every queued pipeline has finished (the soak waits for this before its checks)."""
    history = pipelines(fleet.run(running.main, f"cat {HISTORY} 2>/dev/null || true"))
    queued = fleet.run(running.main, "ls /var/lib/ci-runner/queue | wc -l").strip()
    return queued == "0" and all(p.status != "running" for p in history)


def check_ci(fleet: Fleet, running: Running) -> list[str]:
    history = pipelines(fleet.run(running.main, f"cat {HISTORY} 2>/dev/null || true"))
    if not history:
        raise CheckFailed("no pipeline ran")
    failed = [p for p in history if p.status != "passed"]
    if failed:
        raise CheckFailed(f"pipeline(s) {', '.join(f'{p.number} {p.status}' for p in failed)}")
    seconds = sum(p.seconds or 0 for p in history)
    lines = [f"{len(history)} pipeline(s) passed (byte-compile, then {TEST_MODULES} regression test modules, "
             f"make -j{CORES}) in {seconds} s"]
    pid = int(fleet.lab.inspect(running.main)["State"]["Pid"] or 0)
    now = usage.sample(running.main.id, pid)
    if now is not None and seconds:
        lines.append(f"{now.cpu_s:.0f} CPU-s used in all: {now.cpu_s / seconds:.2f} cores on average while building")
    return lines


SERVICES = (
    Service("ci-runner", f"CI runner (platform/ci-runner, make installed from its .deb in the image build), "
                         f"{CORES}-core budget: the nightly pipeline byte-compiles the standard library and runs "
                         f"CPython's CPU-heavy regression tests with make -j{CORES}", start_ci, check_ci,
            settle=pipeline_done, tags=("ci",)),
)
