"""The lab's own auditd against the real kernel: it alerts on a namespace change made on the host,
refuses a kernel whose audit subsystem is in use, and leaves the kernel as it found it, also when
its owner dies (``reap_auditd``).

Needs root and Debian's auditd package, and a host whose audit subsystem is idle (no daemon, no
rules): otherwise each test skips with the reason. No container engine is needed. The ``audit_lab``
fixture undoes everything in a finally, whatever the test did, then checks the kernel is back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from harness.external.auditd import (
    AuditdDetector,
    AuditdUnavailable,
    AuditStatus,
    audit_rules,
    audit_status,
    find_binary,
    reap_auditd,
    run_auditctl,
)
from lab import poll

pytestmark = pytest.mark.integration

ALERT_WAIT_S = 10.0  # a bound on waiting, not an assertion on speed
PROJECT = Path(__file__).parents[2]


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "auditd tests need root"
    if find_binary("auditd") is None or find_binary("auditctl") is None:
        return "auditd is not installed (apt-get install auditd)"
    try:
        status, rules = audit_status(), audit_rules()
    except AuditdUnavailable as exc:
        return f"the kernel's audit status cannot be read: {exc}"
    if status.pid != 0 or rules or status.enabled == 2:
        return f"this host's audit subsystem is in use (daemon pid {status.pid}, {len(rules)} rules): left alone"
    return None


MakeDetector = Callable[[Path, Sequence[str]], AuditdDetector]


@pytest.fixture
def audit_lab() -> Iterator[MakeDetector]:
    """Detectors made through it are stopped and their directories reaped at teardown, even after a
    failure. Then the kernel must be as it was found (no daemon, no rules, the same settings); if it
    is not, it is put back by hand and the test fails."""
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    before = audit_status()
    made: list[AuditdDetector] = []

    def make(run_dir: Path, rule_files: Sequence[str]) -> AuditdDetector:
        detector = AuditdDetector(run_dir, rule_files)
        made.append(detector)
        return detector

    left: list[str] = []
    try:
        yield make
    finally:
        left = _leave(before, made)
    assert left == [], f"the auditd detector left the kernel changed: {left}"


def _leave(before: AuditStatus, made: Sequence[AuditdDetector]) -> list[str]:
    for detector in made:
        try:
            detector.stop()
        finally:
            reap_auditd(detector.run_dir)
    after, rules = audit_status(), audit_rules()
    left = [f"{name} {now} (was {was})" for name, now, was in (
        ("daemon pid", after.pid, 0), ("rules", len(rules), 0), ("enabled", after.enabled, before.enabled),
        ("settings", _settings(after), _settings(before))) if now != was]
    left += [f"{d.pid_file} remains" for d in made if d.pid_file.exists()]
    if left:  # the module failed to clean up: the host had no daemon and no rules, so put it back
        if after.pid == 0 and rules:
            run_auditctl("-D")
        for option, value in (("-e", before.enabled), ("-f", before.failure), ("-b", before.backlog_limit),
                              ("-r", before.rate_limit), ("--backlog_wait_time", before.backlog_wait_time)):
            if value is not None:
                run_auditctl(option, str(value))
    return left


def _settings(status: AuditStatus) -> tuple[int, int, int, int | None]:
    return status.failure, status.backlog_limit, status.rate_limit, status.backlog_wait_time


def test_unshare_on_the_host_raises_container_config_and_the_kernel_is_put_back(audit_lab, tmp_path):
    detector = audit_lab(tmp_path / "auditd", ("41-containers.rules", "42-injection.rules"))
    with detector:
        assert detector.rule_load is not None
        assert [(f.file, f.rules, f.loaded) for f in detector.rule_load.files] == [
            ("41-containers.rules", 4, 4), ("42-injection.rules", 7, 7)]
        assert any("key=container-config" in rule for rule in detector.rule_load.effective)
        assert audit_status().pid == detector.pid
        assert detector.pid_file.read_text().strip() == str(detector.pid)

        child = subprocess.Popen(["unshare", "--user", "--map-root-user", "true"])
        assert child.wait(timeout=10) == 0
        mine = poll(lambda: [a for a in detector.poll() if a.rule == "container-config"
                             and child.pid in (a.pid, a.ppid)], ALERT_WAIT_S, interval=0.05)
        assert mine, f"no container-config alert for pid {child.pid} within {ALERT_WAIT_S:.0f}s"
        assert 'exe="/usr/bin/unshare"' in mine[0].summary
    status = audit_status()
    assert detector.kernel_before is not None
    assert (status.pid, status.enabled, audit_rules()) == (0, detector.kernel_before.enabled, ())  # enabled 0 here
    assert not detector.pid_file.exists()
    assert "key=\"container-config\"" in detector.log_file.read_text(encoding="utf-8")  # the evidence stays


def test_a_second_detector_refuses_while_a_daemon_is_registered(audit_lab, tmp_path):
    first = audit_lab(tmp_path / "first", ("41-containers.rules",))
    with first:
        loaded = audit_rules()
        with pytest.raises(AuditdUnavailable, match=f"already registered.*pid {first.pid}"):
            audit_lab(tmp_path / "second", ("41-containers.rules",)).start()
        assert audit_status().pid == first.pid  # the refusal touched nothing of the first's
        assert audit_rules() == loaded


def test_refuses_rules_it_did_not_load(audit_lab, tmp_path):
    # Auditing is off (enabled 0) and no daemon runs: the rule records nothing while it is there.
    added = run_auditctl("-a", "always,exit", "-F", "arch=b64", "-S", "setns", "-k", "stowaway-preloaded")
    assert added.ok, added.message()
    try:
        with pytest.raises(AuditdUnavailable, match="already holds 1 audit rule"):
            audit_lab(tmp_path / "auditd", ("41-containers.rules",)).start()
        assert audit_rules() == ("-a always,exit -F arch=b64 -S setns -F key=stowaway-preloaded",)
    finally:
        run_auditctl("-D")


HOLDER = """
import sys, time
from harness.external.auditd import AuditdDetector
detector = AuditdDetector(sys.argv[1], ("41-containers.rules",))
detector.start()
print(detector.pid, flush=True)
time.sleep(120)
"""


def test_reap_stops_the_auditd_of_a_run_that_was_killed(audit_lab, tmp_path):
    run_dir = tmp_path / "auditd"
    audit_lab(run_dir, ())  # never started: registers the directory for the fixture's reaping
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], cwd=PROJECT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None
        daemon = int(holder.stdout.readline())
        assert reap_auditd(run_dir) == [f"{run_dir} belongs to a live run (its auditd.lock is held): left alone"]
        holder.send_signal(signal.SIGKILL)  # no teardown runs: auditd and its rules stay behind
        holder.wait(timeout=10)
        assert audit_status().pid == daemon and audit_rules()
        done = reap_auditd(run_dir)
        assert "auditctl -D" in done and f"stopped auditd pid {daemon}" in done
        assert poll(lambda: not Path(f"/proc/{daemon}/cmdline").exists()
                    or not Path(f"/proc/{daemon}/cmdline").read_bytes(), 5, interval=0.05)
        status = audit_status()
        assert (status.pid, audit_rules()) == (0, ())
        assert reap_auditd(run_dir) == []  # nothing left to do: the pid file is gone
    finally:  # then the fixture reaps the directory and checks the kernel
        if holder.poll() is None:
            holder.kill()
            holder.wait()
