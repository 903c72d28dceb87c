"""A realistic benign fleet and its soak: real services doing their real jobs for N minutes under
the run's detectors. Every alert on them is a false positive. Twins test one trap each; the fleet
tests ordinary life.

    run_soak(session, monitor, minutes, progress) -> SoakResult     a soak on its own
    with alongside(session, monitor, minutes, progress) as soak:      beside a run's scenarios
        ...
    soak.result -> SoakResult | None
"""

from harness.fleet.runner import Soak, SoakHandle, alongside, run_soak
from harness.fleet.services import SERVICES

__all__ = ["SERVICES", "Soak", "SoakHandle", "alongside", "run_soak"]
