"""The private auditd's own configuration: a log in the lab's directory, nothing that can halt the host."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from harness.external.auditd.kernel import AuditdUnavailable
from harness.external.auditd.log import EVENT_TIMEOUT_S

CONF_NAME = "auditd.conf"
LOG_NAME = "audit.log"
PID_NAME = "auditd.pid"
LOCK_NAME = "auditd.lock"  # held by the run using the directory: a reaper leaves a live run alone
STATE_NAME = "auditd-state.json"
RULES_NAME = "audit.rules"  # what was sent to the kernel, kept as evidence beside the log
STDERR_NAME = "auditd.stderr"
PLUGIN_DIR_NAME = "plugins.d"
MAX_CONF_LINE = 160  # auditd skips longer lines of auditd.conf
GLOBAL_PID_FILE = Path("/run/auditd.pid")  # auditd writes it whatever -c says; it removes it on a clean exit


def auditd_conf(run_dir: Path) -> str:
    """auditd.conf (option names of auditd 3.0.9) for a daemon that writes only into ``run_dir`` and
    never acts on the machine: no halt, single-user mode or suspend on a full or failing disk, no
    rotation that would drop evidence, no plugins, no network listener (no tcp_listen_port)."""
    settings = {
        "local_events": "yes",
        "write_logs": "yes",
        "log_file": str(run_dir / LOG_NAME),
        "log_group": "root",
        "log_format": "ENRICHED",
        "flush": "INCREMENTAL_ASYNC",
        "freq": "50",
        "max_log_file": "2048",  # MiB; with IGNORE nothing happens at the limit anyway
        "num_logs": "0",
        "max_log_file_action": "IGNORE",
        "name_format": "NONE",
        "space_left": "75",
        "space_left_action": "SYSLOG",
        "admin_space_left": "50",
        "admin_space_left_action": "SYSLOG",
        "disk_full_action": "IGNORE",
        "disk_error_action": "IGNORE",
        "verify_email": "no",
        "action_mail_acct": "root",
        "overflow_action": "SYSLOG",
        "distribute_network": "no",
        "end_of_event_timeout": str(int(EVENT_TIMEOUT_S)),
        # Empty: auditd would otherwise start /etc/audit/plugins.d's plugins (af_unix, syslog).
        "plugin_dir": str(run_dir / PLUGIN_DIR_NAME),
    }
    lines = [f"{name} = {value}" for name, value in settings.items()]
    too_long = [line for line in lines if len(line) > MAX_CONF_LINE]
    if too_long:
        raise AuditdUnavailable(f"run directory path too long for auditd.conf (auditd skips lines over "
                                f"{MAX_CONF_LINE} characters): {too_long[0]!r}")
    return "# Written by Stowaway for a lab-owned auditd; see harness/external/auditd.py\n" + "\n".join(lines) + "\n"


def _write(path: Path, text: str, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with open(descriptor, "w") as handle:
        os.fchmod(descriptor, mode)  # an existing file keeps its mode through O_CREAT
        handle.write(text)


# --- the directory's files, shared by the detector and the reaper ---------------------------------

START_TIMEOUT_S = 10.0


STOP_TIMEOUT_S = 10.0


def lock_run_dir(run_dir: Path) -> int:
    """An exclusive lock on the run directory, for as long as the returned descriptor is open."""
    descriptor = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise AuditdUnavailable(f"{run_dir} is in use by another run's auditd (its {LOCK_NAME} is held)") from None
    return descriptor


def remove_global_pid_file(pid: int) -> None:
    """auditd's /run/auditd.pid, when it names the daemon that is gone (a SIGKILL leaves it)."""
    with contextlib.suppress(OSError, ValueError):
        if int(GLOBAL_PID_FILE.read_text().strip()) == pid:
            GLOBAL_PID_FILE.unlink()


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
