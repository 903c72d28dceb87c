"""The kernel's audit state as auditctl reports it, and the auditctl calls that change it."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from harness.external.auditd.log import _int

AUDITD = "auditd"
AUDITCTL = "auditctl"
_SBIN = "/usr/sbin:/sbin:/usr/bin:/bin"  # a root shell's PATH may lack sbin; the binaries live there
CTL_TIMEOUT_S = 15.0  # auditctl waits up to 4 s for a kernel reply itself


class AuditdUnavailable(RuntimeError):
    """auditd cannot run here, or not without touching what is not ours; the message says why."""


class AuditdError(RuntimeError):
    """Something the detector started could not be undone (the kernel's audit state is not back)."""


def find_binary(name: str) -> str | None:
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:{_SBIN}")


@dataclass(frozen=True, slots=True)
class CtlResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    pid: int

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def message(self) -> str:
        return (self.stderr.strip() or self.stdout.strip() or f"exit status {self.returncode}").replace("\n", "; ")


def run_auditctl(*args: str, auditctl: str | None = None) -> CtlResult:
    """``auditctl ARGS`` with its output; its pid is kept so its own audit records can be told apart."""
    binary = auditctl or find_binary(AUDITCTL)
    if binary is None:
        raise AuditdUnavailable("auditctl is not installed (Debian/Ubuntu: apt-get install auditd)")
    process = subprocess.Popen([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    try:
        out, err = process.communicate(timeout=CTL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        err += f"\n(killed after {CTL_TIMEOUT_S:.0f}s)"
    return CtlResult(args=tuple(args), returncode=process.returncode, stdout=out, stderr=err, pid=process.pid)


@dataclass(frozen=True, slots=True)
class AuditStatus:
    """``auditctl -s``: the kernel's audit settings and the registered daemon (pid 0: none)."""

    enabled: int
    failure: int
    pid: int
    rate_limit: int
    backlog_limit: int
    lost: int
    backlog_wait_time: int | None  # jiffies; None on kernels without it

    @classmethod
    def parse(cls, text: str) -> AuditStatus:
        values: dict[str, int] = {}
        for line in text.splitlines():
            name, _, rest = line.strip().partition(" ")
            number = _int(rest.split(" ")[0]) if rest else None
            if number is not None:
                values[name] = number
        missing = [n for n in ("enabled", "failure", "pid", "rate_limit", "backlog_limit") if n not in values]
        if missing:
            raise AuditdUnavailable(f"`auditctl -s` did not report {', '.join(missing)}: {text.strip()[:200]!r}")
        return cls(enabled=values["enabled"], failure=values["failure"], pid=values["pid"],
                   rate_limit=values["rate_limit"], backlog_limit=values["backlog_limit"],
                   lost=values.get("lost", 0), backlog_wait_time=values.get("backlog_wait_time"))


def audit_status(auditctl: str | None = None) -> AuditStatus:
    result = run_auditctl("-s", auditctl=auditctl)
    if not result.ok:
        raise AuditdUnavailable(f"`auditctl -s` failed: {result.message()}")
    return AuditStatus.parse(result.stdout)


def audit_rules(auditctl: str | None = None) -> tuple[str, ...]:
    """The kernel's rules as ``auditctl -l`` lists them; () for "No rules"."""
    result = run_auditctl("-l", auditctl=auditctl)
    if not result.ok:
        raise AuditdUnavailable(f"`auditctl -l` failed: {result.message()}")
    lines = tuple(line.strip() for line in result.stdout.splitlines() if line.strip())
    return () if lines == ("No rules",) else lines


def _settings_to_restore(before: AuditStatus, now: AuditStatus) -> list[tuple[str, str]]:
    """The ``auditctl`` options that put back what the preamble (or auditd) changed."""
    changes = [("-f", before.failure, now.failure), ("-b", before.backlog_limit, now.backlog_limit),
               ("-r", before.rate_limit, now.rate_limit), ("-e", before.enabled, now.enabled),
               ("--backlog_wait_time", before.backlog_wait_time, now.backlog_wait_time)]
    return [(option, str(old)) for option, old, new in changes if old is not None and old != new]


