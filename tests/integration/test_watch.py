"""`stowaway watch` as a monitoring tool: alerts stream as JSON lines while someone else's run goes on."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from lab.paths import LabPaths
from tests.integration.cli_helpers import (
    LOGGING_PAIR,
    LOGGING_RULE,
    ROOT,
    environment,
    scorecard,
    stowaway,
    stowaway_command,
)

pytestmark = pytest.mark.integration


def test_watch_streams_the_alert_of_a_container_started_elsewhere(tmp_path):
    watcher = subprocess.Popen(stowaway_command("watch", "--duration", "300"), cwd=ROOT, env=environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = watcher.stderr.readline()  # blocks until the monitor is attached (or the process died)
        assert banner.startswith("watching "), banner + (watcher.stderr.read() if watcher.poll() is not None else "")
        # It holds its own lease on the private engine (named after its run record, holding its pid).
        leases = [p for p in LabPaths.default().leases.iterdir() if p.read_text().strip() == str(watcher.pid)]
        assert len(leases) == 1
        lease = leases[0]

        out = tmp_path / "reports"
        result = stowaway("run", LOGGING_PAIR[0], "--out", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        objects = set(scorecard(out)["outcomes"][0]["objects"])
    finally:
        watcher.send_signal(signal.SIGTERM)
        stdout, stderr = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, stderr
    alerts = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    mine = [a for a in alerts if a["object"] in objects]
    logging = [a for a in mine if a["rule_id"] == LOGGING_RULE]
    assert len(logging) == 1  # deduplicated per (rule, object); other rules may fire on it too
    assert logging[0]["severity"] == "high" and logging[0]["techniques"] == ["T1562.001", "T1610"]
    assert "alert(s) raised" in stderr
    assert not lease.exists()  # released on SIGTERM
