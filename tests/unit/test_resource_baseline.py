"""The seasonal resource baseline, on stored series: the stored history of the reports workload
(detectors/baselines/resources/reports.json) and a report run (tests/fixtures/resources/report_run.json),
both synthetic (made for the lab, not recorded or exported; each file says so), and on
cgroup samples recorded from the real engine (tests/fixtures/host): a cache service that holds
400 MiB from its first second (preloaded-cache.json), a small web service whose container a program
balloons by 400 MiB after 12 s (memory-balloon.json), and the first 20 s of a two-process hash
loop with no workload label, recorded while the 2-core host ran at load 5.7
(cpu-miner-first-seconds.json)."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detectors.analytics.resource_baseline import (
    BASELINE_DIR,
    LEARN_S,
    MIB,
    MIN_HISTORY,
    SUSTAIN,
    Baseline,
    CpuSpike,
    MemorySpike,
    growth_ceiling,
    image_repository,
    load_baselines,
    workload_key,
)
from detectors.clock import DetectorClock, parse_moment
from detectors.platform import Platform
from tests.unit.platform_kit import PlatformKit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REPORT_RUN = json.loads((FIXTURES / "resources" / "report_run.json").read_text())
RUN = REPORT_RUN["samples"]  # synthetic: written by hand in the sampler's event shape
LEVEL = json.loads((FIXTURES / "host" / "preloaded-cache.json").read_text())
BALLOON = json.loads((FIXTURES / "host" / "memory-balloon.json").read_text())
MINER = json.loads((FIXTURES / "host" / "cpu-miner-first-seconds.json").read_text())
MONDAY_PEAK = "2026-11-30T09:05:00Z"  # weekday 08-10 UTC: the workload's usual report window
SUNDAY_NIGHT = "2026-11-29T03:05:00Z"


REPORTS_IMAGE = "sha256:" + "5" * 64
REPORTS_COMMAND = ["python3", "/opt/reports/report.py"]
_POLICY: list = []


def reports_policy():
    """The shipped policy plus a platform that signed the reports image (platform/reports)."""
    if not _POLICY:
        kit = PlatformKit(Path(tempfile.mkdtemp(prefix="stowaway-test-platform-")))
        kit.sign(REPORTS_IMAGE, "platform/reports", REPORTS_COMMAND)
        _POLICY.append(kit.policy())
    return _POLICY[0]


def replay(samples: list[dict], moment: str, analytic_cls: type = CpuSpike, workload: str | None = "reports") -> list:
    """Feed samples, one a second, with the detectors' calendar reading ``moment`` at the first.
    ``workload="reports"``: the container runs the signed reports image as built; ``"claimed"``: it only
    carries the reports service's label; None: neither."""
    clock = DetectorClock()
    clock.set(moment)
    analytic = analytic_cls(reports_policy(), clock=clock)
    base = time.time()
    alerts = []
    for i, sample in enumerate(samples):
        event = dict(sample, **{"event.created": base + i})
        for key in ("container.labels.app", "container.image.id", "container.command"):
            event.pop(key, None)
        if workload == "reports":
            event.update({"container.image.id": REPORTS_IMAGE, "container.command": REPORTS_COMMAND})
        if workload in ("reports", "claimed"):
            event["container.labels.app"] = "reports"
        alerts.extend(analytic.observe(event))
    return alerts


def first_rules(alerts: list) -> list[str]:
    """What the engine would raise: one alert per (rule, container)."""
    return sorted({a.rule_id for a in alerts})


def test_workload_identity_ignores_the_image_tag():
    assert image_repository("stowaway/base:a5dd856b24bebdb0") == "stowaway/base"
    assert image_repository("registry:5000/team/app:1.2@sha256:abc") == "registry:5000/team/app"
    assert workload_key({"container.image.name": "stowaway/base:x", "container.labels.app": "reports"}) is None


def test_the_workload_is_the_signed_identity_never_a_label():
    platform = Platform(reports_policy())
    signed = {"container.image.id": REPORTS_IMAGE, "container.command": REPORTS_COMMAND}
    assert workload_key(signed, platform) == "image=platform/reports"
    assert workload_key({**signed, "container.command": ["python3", "-c", "x"]}, platform) is None
    assert workload_key({"container.image.id": "sha256:" + "6" * 64, "container.command": REPORTS_COMMAND,
                         "container.labels.app": "reports"}, platform) is None


def test_a_claimed_reports_label_borrows_no_peak_hour():
    # The look-alike: the reports service's label, its load, its peak hour; not its signed image.
    alerts = replay(RUN, MONDAY_PEAK, workload="claimed")
    assert first_rules(alerts) == ["stowaway.analytic.cpu-spike"]
    assert alerts[0].context["why"] == "no baseline for this workload"


def test_benign_peak_at_its_usual_hour_is_silent():
    assert replay(RUN, MONDAY_PEAK) == []


def test_same_spike_off_hours_alerts():
    alerts = replay(RUN, SUNDAY_NIGHT)
    assert first_rules(alerts) == ["stowaway.analytic.cpu-spike"]
    assert "Sun 03:00" in alerts[0].context["why"]
    assert len(alerts[0].evidence) >= SUSTAIN


def test_same_spike_from_an_unknown_workload_alerts_even_at_peak_hour():
    alerts = replay(RUN, MONDAY_PEAK, workload=None)
    assert first_rules(alerts) == ["stowaway.analytic.cpu-spike"]
    assert alerts[0].context["why"] == "no baseline for this workload"


def test_decision_needs_sustain_samples_above_the_ceiling():
    # Sunday 03:00's ceiling is ~0.23 cores, so the ramp sample (index 1, 0.4 cores) is the first
    # above it; the alert comes with the SUSTAIN-th sample above the ceiling, not before.
    clock = DetectorClock()
    clock.set(SUNDAY_NIGHT)
    analytic = CpuSpike(reports_policy(), clock=clock)
    decided_at = None
    for i, sample in enumerate(RUN):
        event = dict(sample, **{"event.created": time.time() + i, "container.image.id": REPORTS_IMAGE,
                                "container.command": REPORTS_COMMAND})
        if analytic.observe(event):
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


def test_synthetic_series_say_so_in_the_file():
    # Neither the stored history nor the report run was recorded: a reader of either file must see it.
    assert REPORT_RUN["synthetic"] is True and "not recorded" in REPORT_RUN["provenance"]
    history = json.loads((BASELINE_DIR / "reports.json").read_text())
    assert history["synthetic"] is True and "not exported" in history["provenance"]
    assert "exported from" not in history["description"]


def test_stored_history_has_the_documented_shape():
    reports = load_baselines()["image=platform/reports"]["cpu"]
    monday_9 = reports.buckets[(0, 9)]
    sunday_3 = reports.buckets[(6, 3)]
    assert len(monday_9) == 4 and min(monday_9) > 0.8
    assert len(sunday_3) == 4 and max(sunday_3) < 0.1


class FixedCeilingMemory(MemorySpike):
    """The memory analytic as it was: a workload without history judged against 256 MiB from its
    first sample, with no learning period."""

    learns_level = False


def test_a_level_held_from_the_first_second_is_not_a_spike():
    assert min(s["container.memory.usage_bytes"] for s in LEVEL) > 400 * MIB  # 400 MiB from the first sample
    # The misfire, reproduced: against a fixed ceiling the cache's steady level is a "spike"...
    assert first_rules(replay(LEVEL, MONDAY_PEAK, analytic_cls=FixedCeilingMemory, workload=None)) == \
        ["stowaway.analytic.memory-spike"]
    # ...while it is the container's own level: learned in its first seconds, and never exceeded.
    assert replay(LEVEL, MONDAY_PEAK, analytic_cls=MemorySpike, workload=None) == []


def test_a_balloon_is_growth_over_what_the_container_held():
    alerts = replay(BALLOON, MONDAY_PEAK, analytic_cls=MemorySpike, workload=None)
    assert first_rules(alerts) == ["stowaway.analytic.memory-spike"]
    grew_at = next(i for i, s in enumerate(BALLOON) if s["container.memory.usage_bytes"] > 256 * MIB)
    assert grew_at >= LEARN_S  # samples are one a second: the growth comes after the learning period
    assert alerts[0].evidence[0] == BALLOON[grew_at]["event.id"]  # the first sample above is the growth
    assert "in its first 10 s" in alerts[0].context["why"]


def test_growth_inside_the_learning_period_is_learned_as_the_level():
    # The blind spot the docstring names: a container that reaches its full level while it is still
    # being learned, and holds it, is that level. Same samples, with the first seconds cut off so the
    # balloon lands inside the learning period.
    grew_at = next(i for i, s in enumerate(BALLOON) if s["container.memory.usage_bytes"] > 256 * MIB)
    late_start = BALLOON[grew_at - 3:]
    assert replay(late_start, MONDAY_PEAK, analytic_cls=MemorySpike, workload=None) == []


def test_the_learning_period_is_per_container():
    # Two containers of the same unknown workload: one's level is not the other's.
    other = [dict(s, **{"container.id": "d" * 64}) for s in BALLOON]
    alerts = replay(LEVEL + other, MONDAY_PEAK, analytic_cls=MemorySpike, workload=None)
    assert {a.object for a in alerts} == {f"container:{'d' * 64}"}


def test_a_known_workload_is_judged_by_its_seasonal_memory_band():
    assert replay(RUN, MONDAY_PEAK, analytic_cls=MemorySpike) == []
    doubled = [dict(s, **{"container.memory.usage_bytes": 420 * MIB}) for s in RUN]
    alerts = replay(doubled, MONDAY_PEAK, analytic_cls=MemorySpike)  # far above its history, no learning
    assert first_rules(alerts) == ["stowaway.analytic.memory-spike"] and "weeks of history" in alerts[0].context["why"]


def test_growth_ceiling():
    assert growth_ceiling(10.0, 256.0, 64.0) == 256.0  # a small container must still pass the fixed ceiling
    assert growth_ceiling(410.0, 256.0, 64.0) == pytest.approx(512.5)  # a big one must grow by a quarter
    assert growth_ceiling(100.0, 0.0, 64.0) == 164.0


def test_a_cpu_miner_is_still_flagged_from_its_first_second():
    # CPU learns nothing: a workload nobody knows pegging cores from its first sample is the miner.
    assert not CpuSpike.learns_level
    alerts = replay(MINER, MONDAY_PEAK, workload=None)
    assert first_rules(alerts) == ["stowaway.analytic.cpu-spike"]
    assert alerts[0].evidence[0] == MINER[0]["event.id"]  # its very first sample already counts
    # A miner at full speed from its first sample is flagged at the SUSTAIN-th, inside what would
    # be a learning period for memory.
    pegged = [dict(s, **{"container.cpu.cores": 1.9}) for s in MINER]
    decided = next(i for i in range(len(pegged))
                   if replay(pegged[:i + 1], MONDAY_PEAK, workload=None))
    assert decided == SUSTAIN - 1 < LEARN_S


CI_IMAGE = "sha256:" + "7" * 64
CI_COMMAND = ["sh", "/usr/local/bin/ci-job"]


def _cpu_samples(cores: float, n: int = 12, **fields: object) -> list[dict]:
    """Hand-made cgroup samples (the sampler's shape) of one container using ``cores`` CPU."""
    return [{"event.id": f"s{i}", "event.module": "linux", "event.dataset": "linux.resources",
             "event.action": "sample", "container.id": "ci1", "container.name": "ci-runner-1",
             "container.image.name": "platform/ci-runner:1", "container.cpu.cores": cores,
             "container.memory.usage_bytes": 300 * MIB, **fields} for i in range(n)]


def test_a_sanctioned_ci_runner_is_held_to_its_budget(tmp_path):
    kit = PlatformKit(tmp_path)
    kit.sign(CI_IMAGE, "platform/ci-runner", CI_COMMAND)
    policy = kit.policy()
    analytic = CpuSpike(policy)

    def run(samples: list[dict]) -> list:
        alerts = []
        for i, sample in enumerate(samples):
            alerts += analytic.observe(policy.enrich(dict(sample, **{"event.created": time.time() + i})))
        return alerts

    genuine = {"container.image.id": CI_IMAGE, "container.command": CI_COMMAND}
    assert run(_cpu_samples(1.9, **genuine)) == []  # two cores of compiling, within its budget
    over = run([{**s, "container.id": "ci2"} for s in _cpu_samples(2.6, **genuine)])
    assert first_rules(over) == ["stowaway.analytic.cpu-spike"] and "budget" in over[0].context["why"]
    # The look-alike: the runner's name and tag, an unsigned image: the ordinary ceiling.
    forged = {**genuine, "container.image.id": "sha256:" + "8" * 64}
    unsigned = run([{**s, "container.id": "ci3"} for s in _cpu_samples(1.9, **forged)])
    assert first_rules(unsigned) == ["stowaway.analytic.cpu-spike"]
