"""The same report-run spike, at an hour when that workload is always idle."""

from __future__ import annotations

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.resources.peak_hours_report import BURN_S, run_report


class OffHoursReport(Scenario):
    id = "docker.resources.off-hours-report"
    title = "Known workload's CPU spike at an hour it is always idle"
    kind = Kind.ADVERSARY
    techniques = ("T1496", "T1496.001")
    backends = ("docker", "kubernetes")
    expect = Expectation(fires=("stowaway.analytic.cpu-spike",), within_s=25)
    twin = "docker.resources.peak-hours-report"
    tags = ("resources", "impact")
    parallel_safe = False  # it sets the detectors' clock
    simulated_time = "2026-11-29T03:05:00Z"  # a Sunday night: the reports service idles at 0.03 cores
    description = (
        "Exactly the peak-hours twin's workload and load (reports service, one core for "
        f"{BURN_S} s), but the detectors' clock says Sunday 03:05 UTC, an hour at which the "
        "workload's history shows it idle: someone is using its compute. The seasonal CPU "
        "baseline must alert."
    )

    def detonate(self, lab: Lab) -> None:
        run_report(lab, BURN_S)
