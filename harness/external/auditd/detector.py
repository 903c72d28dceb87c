"""The Linux audit daemon (auditd) as an external detector: its log read as alerts, and a private
auditd the lab runs for the length of a run.

Reading. ``parse_audit_lines`` groups the records of an auditd log (RAW or ENRICHED format) into
events by their ``msg=audit(<epoch>.<ms>:<serial>)`` stamp, and ``to_alerts`` turns an event into
one ``ExternalAlert`` per audit key, the key being the rule's name. An event ends at its PROCTITLE
record (the kernel's last record of a syscall event) or its EOE (which auditd 3 uses but does not
write to its log), at once when it is a one-record user-space message, when a record more than
``EVENT_TIMEOUT_S`` younger arrives (or, live, that much time passes), and at the end of the input.
A later serial alone does not end an event: records of events on different CPUs interleave in the
log, and auditd's own records (DAEMON_*) count serials of their own.

Running. ``AuditdDetector`` starts ``auditd -n`` as its child with a configuration of its own in a
directory the lab gives it, loads rule files shipped with auditd as examples, and is polled for
alerts the way the harness polls every other source (``start``/``poll``/``finish``). It refuses a
host whose audit subsystem is already in use (a registered daemon, rules loaded, immutable mode):
the kernel has one audit daemon and one rule list, and this lab never takes them from their owner.
On the way out it deletes its rules, disables auditing, stops its daemon and puts back the kernel
settings it found, then checks the kernel agrees. ``reap_auditd`` cleans up after a run that died.

Blind spots of the default rule files, measured with this module on Debian's auditd 3.0.9 and
kernel 6.18 (x86_64):
- 41-containers watches ``clone`` with namespace flags, not ``clone3``: a clone3(CLONE_NEWUSER)
  gave no ``container-create``. ``unshare`` and ``setns`` are seen (``container-config``).
- 42-injection's catch-all ``-S ptrace -k tracing`` comes first, and an exit rule list stops at its
  first match: a PTRACE_POKEDATA was ``tracing``, not ``data-injection`` (the same order shadows
  ``code-injection`` and ``register-injection``).
- 30-stig's ``time-change`` watches ``adjtimex`` and ``settimeofday``, but glibc's adjtimex() calls
  ``clock_adjtime``, which the file leaves commented out: only the raw syscall was seen.
- 30-stig's permission, access, mount and delete rules require ``auid>=1000``: root sessions,
  services and containers started by them (auid unset) are invisible to them.
- Audit records carry no container id: alerts carry host pids, which the harness maps to containers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from harness.external.alert import ExternalAlert
from harness.external.auditd.config import (
    CONF_NAME,
    LOG_NAME,
    PID_NAME,
    PLUGIN_DIR_NAME,
    RULES_NAME,
    START_TIMEOUT_S,
    STATE_NAME,
    STDERR_NAME,
    STOP_TIMEOUT_S,
    _write,
    auditd_conf,
    lock_run_dir,
    read_pid,
    remove_global_pid_file,
)
from harness.external.auditd.kernel import (
    AUDITCTL,
    AUDITD,
    AuditdError,
    AuditdUnavailable,
    AuditStatus,
    CtlResult,
    _settings_to_restore,
    audit_rules,
    audit_status,
    find_binary,
    run_auditctl,
)
from harness.external.auditd.log import AuditEvent, EventAssembler, parse_record, to_alerts
from harness.external.auditd.rules import (
    DEFAULT_RULE_FILES,
    EXAMPLE_RULES,
    PREAMBLE,
    FileLoad,
    RuleFailure,
    RuleLine,
    RuleLoad,
    read_rule_files,
    rule_lines,
)
from lab import poll as wait_until

MAX_SLICE = 4 << 20  # bytes of log read per poll
MAX_LINE = 1 << 20  # a partial line longer than this is dropped: no audit record is near it
OWN_PIDS_KEPT = 4096


class _LogFollower:
    """Reads what was appended to a file since the last call, at most MAX_SLICE bytes at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.at_end = False  # the last read reached the end of the file
        self._inode = 0
        self._partial = b""

    def start_at_end(self) -> None:
        """Skip what a previous run left in the file (auditd appends to an existing log)."""
        with contextlib.suppress(FileNotFoundError):
            stat = self.path.stat()
            self._inode, self.offset = stat.st_ino, stat.st_size

    def lines(self) -> list[str]:
        data = self._read()
        if not data:
            return []
        *lines, self._partial = (self._partial + data).split(b"\n")
        if len(self._partial) > MAX_LINE:
            self._partial = b""
        return [line.decode("utf-8", errors="backslashreplace") for line in lines]

    def rest(self) -> list[str]:
        """The last line, written without its newline."""
        rest, self._partial = self._partial, b""
        return [rest.decode("utf-8", errors="backslashreplace")] if rest.strip() else []

    def _read(self) -> bytes:
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                if stat.st_ino != self._inode or stat.st_size < self.offset:  # replaced or truncated
                    self._inode, self.offset, self._partial = stat.st_ino, 0, b""
                handle.seek(self.offset)
                data = handle.read(MAX_SLICE)
        except FileNotFoundError:
            self.at_end = True
            return b""
        self.at_end = len(data) < MAX_SLICE
        self.offset += len(data)
        return data


@dataclass(slots=True)
class _Run:
    """What one start changed, so that stop undoes exactly that."""

    before: AuditStatus
    lock: int  # the run directory's lock file, held while the daemon may be running
    process: subprocess.Popen[bytes] | None = None
    kernel_touched: bool = False  # auditd was started: it may have registered or enabled auditing


class AuditdDetector:
    """A private auditd for the length of a run, polled for alerts like any other alert source.

    ``with AuditdDetector(run_dir) as audit: ... audit.poll()``. ``rule_files`` are names of files
    in ``rules_dir`` (auditd's examples), loaded in order; () means ``DEFAULT_RULE_FILES``.
    ``run_dir`` must be a lab-owned, root-owned directory: the configuration, the log (left as
    evidence), the rules sent, a pid file, a lock and a state file for ``reap_auditd`` go there.
    auditd makes it mode 0700, as its log directory. A log left there by an earlier run is not read
    again. Raises AuditdUnavailable when auditd
    cannot run here or the host's audit subsystem is in use; AuditdError when leaving could not put
    the kernel back the way it was found.
    """

    def __init__(self, run_dir: Path | str, rule_files: Sequence[str] = DEFAULT_RULE_FILES, *,
                 rules_dir: Path = EXAMPLE_RULES, detector: str = "auditd",
                 start_timeout: float = START_TIMEOUT_S, stop_timeout: float = STOP_TIMEOUT_S) -> None:
        self.run_dir = Path(run_dir).absolute()
        self.rule_files = tuple(rule_files) or DEFAULT_RULE_FILES
        self.rules_dir = rules_dir
        self.detector = detector
        self.where = "auditd:" + ",".join(self.rule_files)
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout
        self.rule_load: RuleLoad | None = None
        self.kernel_before: AuditStatus | None = None
        self._run: _Run | None = None
        self._auditd: str | None = None
        self._auditctl: str | None = None
        self._follower = _LogFollower(self.log_file)
        self._assembler = EventAssembler()
        self.lock_run_dir = threading.Lock()
        self._problems: list[str] = []
        self._unreadable = 0
        # (pid, exe) of the daemon and of every auditctl this detector ran: their records are its own.
        self._own: deque[tuple[int, str]] = deque(maxlen=OWN_PIDS_KEPT)

    @property
    def log_file(self) -> Path:
        return self.run_dir / LOG_NAME

    @property
    def pid_file(self) -> Path:
        return self.run_dir / PID_NAME

    @property
    def pid(self) -> int | None:
        run = self._run
        return run.process.pid if run is not None and run.process is not None else None

    # context manager and AlertSource protocol (harness/external/sources.py)

    def __enter__(self) -> AuditdDetector:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        left = self.stop()
        if left:
            raise AuditdError("auditd detector could not put the kernel's audit state back: " + "; ".join(left))

    def preflight(self) -> None:
        """What ``start`` checks before it changes anything (binaries, root, the rule files, a kernel
        audit subsystem nobody else uses), so a run can refuse before its lab comes up. Raises
        AuditdUnavailable. ``start`` checks again: the host may change in between."""
        self._check_host()
        read_rule_files(self.rule_files, self.rules_dir)
        self._check_kernel()

    def start(self) -> None:
        """Check the host, start the daemon, load the rules. On any failure, undo what was done and raise."""
        if self._run is not None:
            raise RuntimeError("this AuditdDetector is already started")
        self._check_host()
        files = read_rule_files(self.rule_files, self.rules_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lock = lock_run_dir(self.run_dir)
        try:
            before = self._check_kernel()
        except BaseException:
            os.close(lock)
            raise
        self.kernel_before = before
        self._run = _Run(before=before, lock=lock)
        try:
            self._prepare_dir()
            self._follower.start_at_end()
            self._start_daemon(self._run)
            self._write_state(self._run, rules=())
            self.rule_load = self._load_rules(files)
            self._write_state(self._run, rules=self.rule_load.effective)
        except BaseException as exc:
            left = self.stop()
            if left:
                self._problems.extend(left)
                exc.add_note("and undoing the start left: " + "; ".join(left))
            raise

    def poll(self) -> list[ExternalAlert]:
        """The alerts of events completed since the last call (thread-safe)."""
        with self.lock_run_dir:
            now = time.monotonic()
            events = self._feed(self._follower.lines(), now)
            events.extend(self._assembler.expire(now))
            return self._alerts(events)

    def alerts(self, stop: threading.Event, interval: float = 0.5) -> Iterator[ExternalAlert]:
        """Alerts as their events complete, until ``stop`` is set (then the last ones)."""
        while not stop.wait(interval):
            yield from self.poll()
        yield from self.poll()

    def finish(self) -> list[ExternalAlert]:
        """The last alerts, then stop (called once, always). Problems leaving are in ``problems()``."""
        self._problems.extend(self.stop())
        return self._drain()

    def problems(self) -> list[str]:
        failures = self.rule_load.failures if self.rule_load is not None else ()
        loading = [f"{f.rule.file}:{f.rule.line}: {f.rule.text}: {f.error}" for f in failures]
        return [*loading, *self._problems]

    def unreadable(self) -> int:
        return self._unreadable

    def notes(self) -> list[str]:
        """What the scorecard should say about this detector's setup: the rules the kernel really
        held, per file, and where the log (the evidence) is."""
        load = self.rule_load
        if load is None:
            return [f"auditd did not start: no rule was loaded (log: {self.log_file})"]
        per_file = ", ".join(f"{f.file} {f.loaded}/{f.rules}"
                             + (f" ({f.stripped} lines left out)" if f.stripped else "") for f in load.files)
        return [f"rules loaded from Debian's auditd examples: {per_file}; {len(load.effective)} in the kernel",
                f"audit log: {self.log_file}"]

    def stop(self) -> list[str]:
        """Delete the rules, disable auditing, stop the daemon, put the kernel's settings back, then
        check. Idempotent. Returns what could not be put back ([] when all is as it was found)."""
        run, self._run = self._run, None
        if run is None:
            return []
        try:
            return self._undo(run)
        finally:
            os.close(run.lock)

    def _undo(self, run: _Run) -> list[str]:
        left: list[str] = []
        owner = self._kernel_owner(run)
        if owner is not None:  # another daemon registered first: its rules and settings are not ours
            self._problems.append(f"auditd pid {owner} registered with the kernel before ours; "
                                  "its rules and settings were left alone")
            left += _terminate(run.process, self.stop_timeout) if run.process is not None else []
            self.pid_file.unlink(missing_ok=True)
            return left
        if run.kernel_touched:
            self._note_lost(run)
            left += self._ctl_all([("-D",), ("-e", str(run.before.enabled))])
        if run.process is not None:
            left += _terminate(run.process, self.stop_timeout)
        if run.kernel_touched:
            left += self._restore_settings(run)
            left += _verify_restored(run.before, self._auditctl)
        self.pid_file.unlink(missing_ok=True)
        if run.process is not None:
            remove_global_pid_file(run.process.pid)
        if not left:
            (self.run_dir / STATE_NAME).unlink(missing_ok=True)
        return left

    def _kernel_owner(self, run: _Run) -> int | None:
        """The pid of a daemon other than ours registered with the kernel (a race at start), or None."""
        if not run.kernel_touched:
            return None
        try:
            registered = audit_status(self._auditctl).pid
        except AuditdUnavailable:
            return None
        ours = run.process.pid if run.process is not None else 0
        return registered if registered not in (0, ours) else None

    def _note_lost(self, run: _Run) -> None:
        with contextlib.suppress(AuditdUnavailable):
            lost = audit_status(self._auditctl).lost - run.before.lost
            if lost > 0:
                self._problems.append(f"the kernel lost {lost} audit record(s) during the run (backlog full)")

    # starting

    def _check_host(self) -> None:
        self._auditd, self._auditctl = find_binary(AUDITD), find_binary(AUDITCTL)
        if self._auditd is None or self._auditctl is None:
            missing = " and ".join(n for n, p in ((AUDITD, self._auditd), (AUDITCTL, self._auditctl)) if p is None)
            raise AuditdUnavailable(f"{missing} not installed (Debian/Ubuntu: apt-get install auditd)")
        if os.geteuid() != 0:
            raise AuditdUnavailable("auditd needs root (CAP_AUDIT_CONTROL and CAP_AUDIT_READ); run as root")

    def _check_kernel(self) -> AuditStatus:
        """The kernel's audit settings, when its audit subsystem is idle; AuditdUnavailable otherwise."""
        status = audit_status(self._auditctl)
        if status.enabled == 2:
            raise AuditdUnavailable("the kernel's audit configuration is immutable (enabled 2) until a reboot")
        if status.pid != 0:
            dead_run = read_pid(self.pid_file) == status.pid
            hint = "; it is a dead run's: `stowaway reap` stops it" if dead_run else ""
            raise AuditdUnavailable(f"an audit daemon is already registered with the kernel (pid {status.pid}, "
                                    f"{_describe(status.pid)}): the kernel has one, and this lab does not take "
                                    f"it over{hint}")
        rules = audit_rules(self._auditctl)
        if rules:
            raise AuditdUnavailable(f"the kernel already holds {len(rules)} audit rule(s) (first: {rules[0]!r}); "
                                    "this lab does not replace a host's audit rules")
        return status

    def _prepare_dir(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        plugins = self.run_dir / PLUGIN_DIR_NAME
        plugins.mkdir(exist_ok=True)
        plugins.chmod(0o750)  # auditd refuses a plugin_dir with other modes
        if any(plugins.iterdir()):
            raise AuditdUnavailable(f"{plugins} is not empty: auditd would start what it holds as plugins")
        _write(self.run_dir / CONF_NAME, auditd_conf(self.run_dir), 0o600)  # auditd wants 0600 or 0640

    def _start_daemon(self, run: _Run) -> None:
        assert self._auditd is not None
        with open(self.run_dir / STDERR_NAME, "wb") as stderr:
            # Its own session: a ^C on the harness's terminal reaches the harness, whose teardown
            # stops auditd in order (rules first), rather than auditd alone.
            run.process = subprocess.Popen([self._auditd, "-n", "-c", str(self.run_dir)], stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        run.kernel_touched = True  # from here auditd may register and enable auditing, even if it then fails
        self._own.append((run.process.pid, os.path.realpath(self._auditd)))
        self.pid_file.write_text(f"{run.process.pid}\n")
        process = run.process
        registered = wait_until(lambda: self._registered(process), self.start_timeout, interval=0.05,
                                give_up=lambda: process.poll() is not None)
        if not registered:
            why = (f"exited with status {process.returncode}" if process.poll() is not None
                   else f"did not register with the kernel within {self.start_timeout:.0f}s")
            raise AuditdUnavailable(f"auditd {why}; its stderr: {self._stderr_tail()!r}")

    def _registered(self, process: subprocess.Popen[bytes]) -> bool:
        return audit_status(self._auditctl).pid == process.pid

    def _stderr_tail(self) -> str:
        try:
            return (self.run_dir / STDERR_NAME).read_text(errors="replace").strip()[-500:]
        except OSError:
            return ""

    def _ctl(self, *args: str) -> CtlResult:
        result = run_auditctl(*args, auditctl=self._auditctl)
        self._own.append((result.pid, os.path.realpath(self._auditctl or AUDITCTL)))
        return result

    def _ctl_all(self, commands: Sequence[Sequence[str]]) -> list[str]:
        failed = []
        for args in commands:
            result = self._ctl(*args)
            if not result.ok:
                failed.append(f"`auditctl {' '.join(args)}` failed: {result.message()}")
        return failed

    def _load_rules(self, files: Sequence[tuple[str, str]]) -> RuleLoad:
        """One auditctl per rule line, rather than ``auditctl -R``: 3.0.9's -R sends its error
        messages to syslog (until a first rule has been sent), stops at the first failure without
        ``-c``, and names a failing line at best; per line, each failure is named with its reason."""
        preamble = [RuleLine("preamble", n, text) for n, text in enumerate(PREAMBLE, start=1)]
        for rule in preamble:
            result = self._ctl(*shlex.split(rule.text))
            if not result.ok:
                raise AuditdUnavailable(f"`auditctl {rule.text}` failed: {result.message()}")
        loads, failures, stripped, sent = [], [], [], [*PREAMBLE]
        for name, text in files:
            rules, left_out = rule_lines(name, text)
            stripped.extend(left_out)
            file_failures = [f for f in (self._add_rule(rule) for rule in rules) if f is not None]
            failures.extend(file_failures)
            loads.append(FileLoad(name, len(rules), len(rules) - len(file_failures), len(left_out)))
            sent += [f"## {name}", *(r.text for r in rules), *(f"## left out (the lab's): {r.text}" for r in left_out)]
        _write(self.run_dir / RULES_NAME, "\n".join(sent) + "\n", 0o600)
        effective = audit_rules(self._auditctl)
        if not effective:
            reasons = "; ".join(f"{f.rule.file}:{f.rule.line}: {f.error}" for f in failures[:3])
            raise AuditdUnavailable(f"no audit rule of {', '.join(self.rule_files)} loaded: {reasons or 'no rules'}")
        return RuleLoad(tuple(loads), tuple(failures), tuple(stripped), effective)

    def _add_rule(self, rule: RuleLine) -> RuleFailure | None:
        try:
            args = shlex.split(rule.text)
        except ValueError as exc:
            return RuleFailure(rule, f"cannot split the line: {exc}")
        result = self._ctl(*args)
        return None if result.ok else RuleFailure(rule, result.message())

    def _write_state(self, run: _Run, rules: Sequence[str]) -> None:
        """What ``reap_auditd`` needs if this process dies without stopping: the settings to put
        back, and the rules that are ours (it deletes rules only while they are exactly these)."""
        assert run.process is not None
        state = {"pid": run.process.pid, "before": asdict(run.before), "rules": list(rules)}
        _write(self.run_dir / STATE_NAME, json.dumps(state, indent=1) + "\n", 0o600)

    # reading

    def _alerts(self, events: Iterable[AuditEvent]) -> list[ExternalAlert]:
        own = set(self._own)
        return [alert for event in events for alert in to_alerts(event, self.detector, own=own)]

    def _feed(self, lines: Iterable[str], now: float) -> list[AuditEvent]:
        events: list[AuditEvent] = []
        for line in lines:
            record = parse_record(line)
            if record is None:
                self._unreadable += bool(line.strip())
                continue
            events.extend(self._assembler.feed(record, now))
        return events

    def _drain(self) -> list[ExternalAlert]:
        """Everything left in the log, the last line even without its newline, and every open event."""
        with self.lock_run_dir:
            lines = self._follower.lines()
            while not self._follower.at_end:
                lines += self._follower.lines()
            events = self._feed([*lines, *self._follower.rest()], time.monotonic())
            events.extend(self._assembler.flush())
            return self._alerts(events)

    # leaving

    def _restore_settings(self, run: _Run) -> list[str]:
        try:
            now = audit_status(self._auditctl)
        except AuditdUnavailable as exc:
            return [str(exc)]
        return self._ctl_all(_settings_to_restore(run.before, now))




def _describe(pid: int) -> str:
    try:
        return os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return "not visible from here"


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> list[str]:
    """SIGTERM (auditd writes DAEMON_END, deregisters and disables auditing), SIGKILL after ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                return [f"auditd (pid {process.pid}) did not die after SIGKILL"]
    return []


def _verify_restored(before: AuditStatus, auditctl: str | None) -> list[str]:
    try:
        now, rules = audit_status(auditctl), audit_rules(auditctl)
    except AuditdUnavailable as exc:
        return [str(exc)]
    left = []
    if now.pid != 0:
        left.append(f"the kernel still has an audit daemon registered (pid {now.pid})")
    if rules:
        left.append(f"{len(rules)} audit rule(s) still loaded (first: {rules[0]!r})")
    left += [f"`auditctl {option}` is not back to {value}" for option, value in _settings_to_restore(before, now)]
    return left




