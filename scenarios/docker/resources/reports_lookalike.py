"""A miner claiming to be the reports service grinds a core in the reports service's peak hour."""

from __future__ import annotations

from lab import Lab, Resources, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

BURN_S = 25
# The reports service's own rhythm (one core, its peak hour); the work is someone else's.
GRIND = (
    "import hashlib, time\n"
    f"end = time.time() + {BURN_S}; n = 0; h = b'block'\n"
    "while time.time() < end:\n"
    "    h = hashlib.sha256(h).digest(); n += 1\n"
    "    if n % 200000 == 0: open('/tmp/rows', 'w').write(str(n))\n"
)


class ReportsLookalike(Scenario):
    id = "docker.resources.reports-lookalike"
    title = "Container claiming to be the reports service grinds a core at the reports peak hour"
    kind = Kind.ADVERSARY
    techniques = ("T1496", "T1496.001", "T1036.005")
    expect = Expectation(fires=("stowaway.analytic.cpu-spike",), within_s=25)
    twin = "docker.resources.peak-hours-report"
    forges = ("resources/seasonal_history/reports",)
    tags = ("resources", "impact", "forged-sanction")
    parallel_safe = False  # it sets the detectors' clock
    simulated_time = "2026-11-30T09:05:00Z"  # a Monday, inside the reports service's 08-10 UTC peak
    description = (
        "Copies what the reports service shows: its role name, its label app=reports, its one-core limit, "
        "and it runs at the service's usual peak (the detectors' clock says Monday 09:05 UTC), when its "
        "seasonal history expects one busy core. But it runs the plain base image with a hash loop of its "
        f"own, not the platform's signed reports image, for {BURN_S} s. The scenario checks the loop made "
        "progress."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("start grinding under the reports service's name at its peak hour")
        worker = lab.deploy(WorkloadSpec(role="reports", labels={"app": "reports"}, command=("python3", "-c", GRIND),
                                         resources=Resources(cpus=1.0)))
        lab.wait_for(lambda: lab.exec(worker, "sh", "-c", "cat /tmp/rows 2>/dev/null || echo 0", check=False)
                     .output.strip() not in ("", "0"), timeout=20, what="the loop to make progress")
