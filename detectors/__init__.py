"""Detectors: sensors -> Events -> Sigma rules and Python analytics -> Alerts.

Detectors see telemetry only. They import neither ``scenarios`` nor ``harness``, and they never read
the lab's bookkeeping (run labels) to reach a decision: sensors strip those labels on the way in.
"""

from detectors.alert import Alert
from detectors.event import Event, new_event

__all__ = ["Alert", "Event", "new_event"]
