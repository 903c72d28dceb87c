"""After a run that died: stop the auditd it left and take its rules out of the kernel, if they are its own."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

from harness.external.auditd.config import (
    LOCK_NAME,
    PID_NAME,
    STATE_NAME,
    STOP_TIMEOUT_S,
    lock_run_dir,
    read_pid,
    remove_global_pid_file,
)
from harness.external.auditd.kernel import (
    AUDITCTL,
    AUDITD,
    AuditdUnavailable,
    AuditStatus,
    _settings_to_restore,
    audit_rules,
    audit_status,
    find_binary,
    run_auditctl,
)
from lab import poll as wait_until


def _is_auditd_of(pid: int, run_dir: Path) -> bool:
    """The process is an auditd started with ``-c run_dir``: pid files outlive their process, and a
    pid may be reused."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in argv if a]
    binary = find_binary(AUDITD)
    is_auditd = os.path.basename(exe.removesuffix(" (deleted)")) == AUDITD or (
        binary is not None and exe == os.path.realpath(binary))
    config_dir = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "-c"), None)
    return is_auditd and config_dir is not None and Path(config_dir).absolute() == run_dir


def _read_state(run_dir: Path) -> tuple[AuditStatus | None, tuple[str, ...]]:
    try:
        state = json.loads((run_dir / STATE_NAME).read_text())
        return AuditStatus(**state["before"]), tuple(state["rules"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, ()


def reap_auditd(runtime_dir: Path | str) -> list[str]:
    """Clean up after a run that died with its auditd: stop the auditd whose pid file is in
    ``runtime_dir`` (only if /proc says it is an auditd started with ``-c runtime_dir``), and delete
    the rules and put back the settings only while that daemon is the kernel's, or while no daemon
    is and the kernel's rules are exactly those the run recorded. Returns what it did."""
    run_dir = Path(runtime_dir).absolute()
    pid = read_pid(run_dir / PID_NAME)
    if pid is None:
        return []
    try:
        lock = lock_run_dir(run_dir)
    except AuditdUnavailable:
        return [f"{run_dir} belongs to a live run (its {LOCK_NAME} is held): left alone"]
    try:
        return _reap(run_dir, pid)
    finally:
        os.close(lock)


def _reap(run_dir: Path, pid: int) -> list[str]:
    before, our_rules = _read_state(run_dir)
    auditctl = find_binary(AUDITCTL)
    done: list[str] = []
    if _is_auditd_of(pid, run_dir):
        done += _reap_daemon(pid, before, auditctl)
    else:
        done.append(f"pid file names {pid}, which is not this run's auditd (gone, or reused): left alone")
    done += _reap_orphan_rules(before, our_rules, auditctl)
    (run_dir / PID_NAME).unlink(missing_ok=True)
    (run_dir / STATE_NAME).unlink(missing_ok=True)
    remove_global_pid_file(pid)
    done.append(f"removed {run_dir / PID_NAME}")
    return done


def _reap_daemon(pid: int, before: AuditStatus | None, auditctl: str | None) -> list[str]:
    # Rules first, while the daemon still logs their removal; only if the kernel's daemon is this one.
    registered = auditctl is not None and audit_status(auditctl).pid == pid
    done = _delete_rules(before, auditctl) if registered else []
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_until(lambda: not _alive(pid), STOP_TIMEOUT_S, interval=0.1):
        done.append(f"stopped auditd pid {pid}")
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), STOP_TIMEOUT_S, interval=0.1)
        done.append(f"killed auditd pid {pid} (SIGKILL: it outlived SIGTERM by {STOP_TIMEOUT_S:.0f}s)")
    if registered and before is not None:
        done += _put_back(before, auditctl)
    return done


def _reap_orphan_rules(before: AuditStatus | None, our_rules: tuple[str, ...], auditctl: str | None) -> list[str]:
    """A daemon killed outright leaves its rules in the kernel (and auditing on, to the kernel log)."""
    if auditctl is None or not our_rules:
        return []
    if audit_status(auditctl).pid != 0 or audit_rules(auditctl) != our_rules:
        return []
    return _delete_rules(before, auditctl) + (_put_back(before, auditctl) if before is not None else [])


def _delete_rules(before: AuditStatus | None, auditctl: str | None) -> list[str]:
    enabled = str(before.enabled) if before is not None else "0"
    done = []
    for args in (("-D",), ("-e", enabled)):
        result = run_auditctl(*args, auditctl=auditctl)
        done.append(f"auditctl {' '.join(args)}" + ("" if result.ok else f" failed: {result.message()}"))
    return done


def _put_back(before: AuditStatus, auditctl: str | None) -> list[str]:
    done = []
    for option, value in _settings_to_restore(before, audit_status(auditctl)):
        result = run_auditctl(option, value, auditctl=auditctl)
        done.append(f"auditctl {option} {value}" + ("" if result.ok else f" failed: {result.message()}"))
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child not yet reaped) is gone for this purpose.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
