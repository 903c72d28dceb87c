"""The seasonal resource baseline, on stored series: the stored history of the reports workload
(detectors/baselines/resources/reports.json) and a recorded report run (tests/fixtures/resources)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detectors.analytics.resource_baseline import (
    MIN_HISTORY,
    SUSTAIN,
    Baseline,
    CpuSpike,
    MemorySpike,
    image_repository,
    load_baselines,
    workload_key,
)
from detectors.clock import DetectorClock, parse_moment

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RUN = json.loads((FIXTURES / "resources" / "report_run.json").read_text())["samples"]
MONDAY_PEAK = "2026-11-30T09:05:00Z"  # weekday 08-10 UTC: the workload's usual report window
SUNDAY_NIGHT = "2026-11-29T03:05:00Z"


def replay(samples: list[dict], moment: str, analytic_cls: type = CpuSpike, label: str | None = "reports") -> list:
    """Feed recorded samples, one a second, with the detectors' calendar reading ``moment`` at the first."""
    clock = DetectorClock()
    clock.set(moment)
    analytic = analytic_cls(baselines=load_baselines(), clock=clock)
    base = time.time()
    alerts = []
    for i, sample in enumerate(samples):
        event = dict(sample, **{"event.created": base + i})
        event.pop("container.labels.app", None)
        if label is not None:
            event["container.labels.app"] = label
        alerts.extend(analytic.observe(event))
    return alerts


def first_rules(alerts: list) -> list[str]:
    """What the engine would raise: one alert per (rule, container)."""
    return sorted({a.rule_id for a in alerts})


def test_workload_identity_ignores_the_image_tag():
    assert image_repository("stowaway/base:a5dd856b24bebdb0") == "stowaway/base"
    assert image_repository("registry:5000/team/app:1.2@sha256:abc") == "registry:5000/team/app"
    assert workload_key({"container.image.name": "stowaway/base:x", "container.labels.app": "reports"}) == \
        "stowaway/base|reports"


def test_benign_peak_at_its_usual_hour_is_silent():
    assert replay(RUN, MONDAY_PEAK) == []


def test_same_spike_off_hours_alerts():
    alerts = replay(RUN, SUNDAY_NIGHT)
    assert first_rules(alerts) == ["stowaway.analytic.cpu-spike"]
    assert "Sun 03:00" in alerts[0].context["why"]
    assert len(alerts[0].evidence) >= SUSTAIN


def test_same_spike_from_an_unknown_workload_alerts_even_at_peak_hour():
    alerts = replay(RUN, MONDAY_PEAK, label="adhoc")
    assert first_rules(alerts) == ["stowaway.analytic.cpu-spike"]
    assert alerts[0].context["why"] == "no baseline for this workload"


def test_decision_needs_sustain_samples_above_the_ceiling():
    # Sunday 03:00's ceiling is ~0.23 cores, so the ramp sample (index 1, 0.4 cores) is the first
    # above it; the alert comes with the SUSTAIN-th sample above the ceiling, not before.
    clock = DetectorClock()
    clock.set(SUNDAY_NIGHT)
    analytic = CpuSpike(baselines=load_baselines(), clock=clock)
    decided_at = None
    for i, sample in enumerate(RUN):
        if analytic.observe(dict(sample, **{"event.created": time.time() + i})):
            decided_at = i
            break
    assert decided_at == 1 + SUSTAIN - 1


def test_short_burst_below_sustain_is_silent():
    burst = RUN[:1] + RUN[2:2 + SUSTAIN - 1] + [dict(RUN[0]) for _ in range(10)]  # one sample short
    assert replay(burst, SUNDAY_NIGHT) == []


def test_bucket_needs_min_history_before_it_decides():
    baseline = Baseline()
    at = datetime.fromtimestamp(parse_moment(MONDAY_PEAK), tz=UTC)
    for week in range(MIN_HISTORY - 1):
        baseline.add(at - timedelta(weeks=week + 1), 0.95)
    assert baseline.band(at, 0.2) is None  # too little history: the fixed ceilings decide instead
    baseline.add(at - timedelta(weeks=MIN_HISTORY), 0.95)
    band = baseline.band(at, 0.2)
    assert band is not None and band.observations == MIN_HISTORY
    assert band.expected == pytest.approx(0.95) and band.ceiling == pytest.approx(0.95 + 0.2375)


def test_stored_history_has_the_documented_shape():
    reports = load_baselines()["stowaway/base|reports"]["cpu"]
    monday_9 = reports.buckets[(0, 9)]
    sunday_3 = reports.buckets[(6, 3)]
    assert len(monday_9) == 4 and min(monday_9) > 0.8
    assert len(sunday_3) == 4 and max(sunday_3) < 0.1


def test_memory_balloon_from_unknown_workload_alerts():
    balloon = [dict(s, **{"container.memory.usage_bytes": 420 * 1024 * 1024}) for s in RUN]
    alerts = replay(balloon, MONDAY_PEAK, analytic_cls=MemorySpike, label=None)
    assert first_rules(alerts) == ["stowaway.analytic.memory-spike"]
    assert replay(RUN, MONDAY_PEAK, analytic_cls=MemorySpike) == []
