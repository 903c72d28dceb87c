"""The reports workload runs its usual weekday-morning report: a known peak, at its usual hour."""

from __future__ import annotations

from lab import Lab, Resources, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import REPORTS

BURN_S = 25


def run_report(lab: Lab, seconds: int) -> None:
    """Deploy the reports service (the platform's signed image, as built) and let its report run fill
    a core for ``seconds``."""
    image = lab.platform_image(REPORTS)
    lab.action("the reports service starts its report run")
    worker = lab.deploy(WorkloadSpec(role="reports", image=image, command=(), labels={"app": "reports"},
                                     env={"REPORT_SECONDS": str(seconds)}, resources=Resources(cpus=1.0)))

    def rows() -> str:
        # On Kubernetes an exec into the pod is an alert of its own: the file is read from its node.
        if lab.backend_name == "kubernetes":
            return (lab.pod_file(worker, "/tmp/rows") or "").strip()
        return lab.exec(worker, "sh", "-c", "cat /tmp/rows 2>/dev/null", check=False).output.strip()

    lab.wait_for(lambda: rows() not in ("", "0"), timeout=20, what="the report run to make progress")


class PeakHoursReport(Scenario):
    id = "docker.resources.peak-hours-report"
    title = "Known workload's CPU peak at its usual weekday-morning hour"
    kind = Kind.BENIGN
    techniques = ("T1496.001",)
    backends = ("docker", "kubernetes")
    expect = Expectation(silent=("stowaway.analytic.cpu-spike", "stowaway.analytic.memory-spike"), window_s=25)
    twin = "docker.resources.off-hours-report"
    tags = ("resources",)
    parallel_safe = False  # it sets the detectors' clock
    simulated_time = "2026-11-30T09:05:00Z"  # a Monday, inside the 08-10 UTC report window
    description = (
        "Deploys the reports service (the platform's signed image platform/reports, run as built, whose "
        "four-week history, synthetic, is detectors/baselines/resources/reports.json) and runs its report: "
        "one core busy for "
        f"{BURN_S} s. The detectors' clock is set to Monday 09:05 UTC, the workload's usual peak, so "
        "the seasonal baseline expects this load and must stay silent. On Kubernetes the same image runs "
        "as a pod (loaded into the nodes, its signature binding to the image id the node agent reports), "
        "and its progress is read from its node, not through an exec."
    )

    def detonate(self, lab: Lab) -> None:
        run_report(lab, BURN_S)
