"""A program that exits microseconds after exec is still attributed to its container.

The exec sensor used to attribute by reading /proc/<pid>/cgroup after the fact, so `true` run from a
shell (reaped at once) was usually gone and counted as a host process. Now the fork, exit and
cgroup-attach tracepoints carry attribution, so every exec is seen: a dropped one-shot binary run
20 times from a shell loop (the fork path) and once straight through `docker exec` (runc's init,
moved into the container's cgroup by the runtime), and the drop-and-execute rule fires on it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from lab import WorkloadSpec

pytestmark = [pytest.mark.integration]

PROGRAM = "/usr/local/bin/fsck-notify"  # a one-shot helper: the host's `true`, written after start
LOOP = 20


class _Catch:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def observe(self, event: dict[str, Any]) -> None:
        if event.get("event.dataset") == "linux.process" and event.get("process.exec_path") == PROGRAM:
            self.events.append(event)


def test_short_lived_dropped_binary_is_attributed_and_alerts(lab_session, monitor):
    if not any(s.name == "tracefs-exec" and not s.unavailable for s in monitor.sensors):
        pytest.skip("the tracefs exec sensor is not available on this host")
    catch = _Catch()
    monitor._observers.append(catch)
    lab = lab_session.scope("exec-short-lived")
    try:
        box = lab.deploy(WorkloadSpec(role="app"))
        cid = box.container_ids[0] if box.container_ids else box.id
        lab.exec(box, "sh", "-c", f"cp /bin/true {PROGRAM} && chmod 755 {PROGRAM}")
        lab.action("run a dropped one-shot binary")
        lab.exec(box, "sh", "-c", f"i=0; while [ $i -lt {LOOP} ]; do {PROGRAM}; i=$((i+1)); done")
        lab.exec(box, PROGRAM)
        deadline = time.time() + 20  # a bound on waiting, not an assertion on speed
        alerts: list[Any] = []
        while time.time() < deadline and (len(catch.events) < LOOP + 1 or not alerts):
            alerts = [a for a in monitor.alerts_for(lab.object_refs(), since=lab.started_at)
                      if a.rule_id == "stowaway.host.drop-and-execute"]
            time.sleep(0.2)
        mine = [e for e in catch.events if e.get("container.id") == cid]
        assert len(mine) == LOOP + 1, f"{len(mine)} of {LOOP + 1} execs attributed"
        assert all(e["process.executable_in_container_changes"] for e in mine)
        assert alerts, "drop-and-execute did not fire"
    finally:
        monitor._observers.remove(catch)
        assert lab.unwind() == []
