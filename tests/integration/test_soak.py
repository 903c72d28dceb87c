"""A short soak of the benign fleet against the real engine: every service comes up, does its job
and proves it in its check; the soak's alerts are exactly what the monitor attributes to the
fleet's objects; and nothing is left behind.

The alerts are not asserted empty: until the detectors stop flagging ordinary life, each alert is a
finding to report (printed with -s, and in the test's captured output on failure).
"""

from __future__ import annotations

import pytest

from harness.fleet import run_soak

pytestmark = [pytest.mark.integration]

MINUTES = 1.0


def test_short_soak_every_service_does_its_job(lab_session, monitor, lab_leftovers):
    lines: list[str] = []
    result = run_soak(lab_session, monitor, MINUTES, lines.append)
    print("\n".join(lines))
    for service in result.services:
        print(f"{'ok' if service.healthy else 'FAIL'} {service.name}: " + " | ".join(service.checks))
    for alert in result.alerts:
        print(f"false positive: {alert['rule_id']} on {alert['object']}: {alert.get('context')}")

    assert len(result.services) >= 12
    unhealthy = {s.name: s.checks for s in result.services if not s.healthy}
    assert unhealthy == {}, unhealthy
    assert result.status == "complete", result.reason
    assert result.minutes >= MINUTES
    assert all(service.checks and service.objects for service in result.services)

    # The alerts are the monitor's own, on the fleet's objects, raised while it ran.
    refs = [ref for service in result.services for ref in service.objects]
    seen = {(a.rule_id, a.object, a.first_seen) for a in monitor.alerts_for(refs, since=result.started_at)}
    reported = {(a["rule_id"], a["object"], a["first_seen"]) for a in result.alerts}
    assert reported <= seen
    assert all(a["object"] in refs for a in result.alerts)
    assert all(result.started_at <= a["first_seen"] <= result.finished_at for a in result.alerts)
    assert result.passed is (not result.alerts)

    assert lab_leftovers(refs, scope="services") == {}
