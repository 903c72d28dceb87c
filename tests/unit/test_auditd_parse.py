"""harness/external/auditd without a daemon: the log read as events and alerts, and the pure
parts of running auditd (its configuration, the rule files, the kernel status, following the log).

Two kinds of input, kept apart:
- RECORDED: tests/fixtures/external/auditd/recorded.log, a slice of a real auditd 3.0.9 log written
  on this project's lab host (ENRICHED format; see the README beside it for how it was made);
- HAND-WRITTEN: the edge cases below marked so, which that recording does not contain.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.external import auditd
from harness.external.auditd import (
    AuditdDetector,
    AuditdUnavailable,
    AuditStatus,
    EventAssembler,
    auditd_conf,
    detector,
    kernel,
    parse_audit_lines,
    parse_record,
    read_rule_files,
    rule_lines,
    to_alerts,
)

RECORDED = Path(__file__).parents[1] / "fixtures" / "external" / "auditd" / "recorded.log"


def recorded_lines() -> list[str]:
    # Not str.splitlines(): it also breaks at \x1d, the separator of ENRICHED's interpreted fields.
    return RECORDED.read_text(encoding="utf-8").rstrip("\n").split("\n")


def events_of(lines: list[str]) -> list[auditd.AuditEvent]:
    return list(parse_audit_lines(lines))


# --- RECORDED ---------------------------------------------------------------------------------------

# What the recording session did, in order, and the alert each action must give: (key, pid, syscall).
RECORDED_ALERTS = [
    ("container-config", 27916, "unshare"),  # unshare -U true
    ("container-config", 27917, "unshare"),  # unshare --user --map-root-user true
    ("container-config", 27918, "setns"),  # nsenter --net=/proc/self/ns/net true
    ("tracing", 27740, "ptrace"),  # PTRACE_ATTACH
    ("tracing", 27740, "ptrace"),  # PTRACE_POKEDATA: 42-injection's first rule wins, not data-injection
    ("tracing", 27740, "ptrace"),  # PTRACE_DETACH
    ("software-installer", 27920, "execve"),  # /usr/bin/pip --version
    ("container-create", 27740, "clone"),  # raw clone(CLONE_NEWUSER)
    ("module-load", 27740, "finit_module"),  # finit_module(-1): fails, still audited
    ("module-unload", 27740, "delete_module"),  # delete_module of a module that does not exist
    ("time-change", 27740, "adjtimex"),  # the raw adjtimex syscall, reading only
    ("system-locale", 27740, "openat"),  # /etc/hosts opened for append, nothing written
]


def test_recorded_log_gives_one_alert_per_keyed_event_and_nothing_else():
    alerts = [a for e in events_of(recorded_lines()) for a in to_alerts(e)]
    assert [(a.rule, a.pid, a.summary.split()[1].removeprefix("syscall=")) for a in alerts] == RECORDED_ALERTS
    assert {a.detector for a in alerts} == {"auditd"}


def test_recorded_daemon_and_config_change_events_give_no_alert():
    events = events_of(recorded_lines())
    quiet = [e for e in events if not to_alerts(e)]
    assert {t for e in quiet for t in e.record_types} >= {"DAEMON_START", "DAEMON_END", "CONFIG_CHANGE"}
    # A CONFIG_CHANGE names the rule it adds or removes in key=: that is no match of the rule.
    assert all(e.keys == () for e in events if "CONFIG_CHANGE" in e.record_types)
    assert {e.comm for e in quiet} == {"", "auditd", "auditctl"}


def test_recorded_unshare_alert_fields():
    event = next(e for e in events_of(recorded_lines()) if e.serial == 421)
    (alert,) = to_alerts(event)
    assert alert.summary == 'key=container-config syscall=unshare exe="/usr/bin/unshare" comm="unshare"'
    assert (alert.pid, alert.ppid, alert.time, alert.source) == (27917, 27740, 1796046532.522, "auditd:421")
    assert event.proctitle == "unshare --user --map-root-user true"  # hex, NUL-separated in the log
    assert (event.uid, event.auid, event.success) == (0, None, True)  # auid 4294967295: unset


def test_recorded_execve_event_keeps_the_program_before_its_interpreter():
    event = next(e for e in events_of(recorded_lines()) if "EXECVE" in e.record_types)
    assert event.record_types == ("SYSCALL", "BPRM_FCAPS", "EXECVE", "CWD", "PATH", "PATH", "PATH", "PROCTITLE")
    assert (event.exe, event.comm, event.cwd) == ("/usr/bin/python3.11", "pip", "/work/main")
    assert event.paths[0] == "/usr/bin/pip"
    assert event.proctitle == "/usr/bin/python3 /usr/bin/pip --version"
    assert to_alerts(event)[0].summary.endswith('name="/usr/bin/pip"')


def test_recorded_watch_event_names_the_file_not_its_parent():
    event = next(e for e in events_of(recorded_lines()) if e.keys == ("system-locale",))
    assert event.paths == ("/etc/hosts",)
    auditctl_watch = next(e for e in events_of(recorded_lines()) if e.serial == 419)
    assert auditctl_watch.paths == ()  # its only PATH is nametype=PARENT


def test_recorded_failed_syscall_is_success_no():
    event = next(e for e in events_of(recorded_lines()) if e.keys == ("module-load",))
    assert event.success is False
    assert to_alerts(event)[0].summary.endswith("success=no")


def test_recorded_log_read_as_raw_format_gives_the_same_alerts_with_syscall_numbers():
    raw = [line.split("\x1d")[0] for line in recorded_lines()]  # RAW: what the kernel sent, no interpretation
    alerts = [a for e in events_of(raw) for a in to_alerts(e)]
    assert [(a.rule, a.pid) for a in alerts] == [(k, p) for k, p, _ in RECORDED_ALERTS]
    unshare = next(e for e in events_of(raw) if e.serial == 420)
    assert unshare.syscall == 272


def test_recorded_own_processes_are_left_out():
    event = next(e for e in events_of(recorded_lines()) if e.serial == 423)
    assert to_alerts(event, own={(27740, event.exe)}) == []
    assert to_alerts(event, own={(27740, "/usr/sbin/auditctl")})  # a reused pid running something else alerts


def test_recorded_records_parse_with_interpreted_fields():
    record = parse_record(recorded_lines()[0])
    assert record is not None
    assert (record.type, record.serial, record.time) == ("DAEMON_START", 6206, 1796046532.079)
    assert record.fields["format"] == "enriched"
    assert record.interpreted == {"AUID": "unset", "UID": "root"}


# --- HAND-WRITTEN edge cases -----------------------------------------------------------------------

def syscall_line(serial: int, key: str, *, time: str = "1700000000.100", comm: str = '"unshare"',
                 extra: str = "") -> str:
    """HAND-WRITTEN, in the shape of the recorded SYSCALL lines."""
    return (f"type=SYSCALL msg=audit({time}:{serial}): arch=c000003e syscall=272 success=yes exit=0 a0=10000000 "
            f"items=0 ppid=10 pid={serial} auid=1000 uid=0 gid=0 tty=(none) ses=3 comm={comm} "
            f'exe="/usr/bin/unshare" key={key}{extra}')


def proctitle_line(serial: int, time: str = "1700000000.100") -> str:
    return f"type=PROCTITLE msg=audit({time}:{serial}): proctitle=756E7368617265002D550074727565"


def test_handwritten_hex_key_holding_several_keys():
    # auditctl -k a -k b joins the keys with \x01, so the kernel writes key= hex-encoded.
    key = ("container-config" + "\x01" + "ns-change").encode().hex().upper()
    (event,) = events_of([syscall_line(7, key), proctitle_line(7)])
    assert event.keys == ("container-config", "ns-change")
    assert [a.rule for a in to_alerts(event)] == ["container-config", "ns-change"]


def test_handwritten_null_key_gives_no_alert():
    (event,) = events_of([syscall_line(8, "(null)"), proctitle_line(8)])
    assert event.keys == ()
    assert to_alerts(event) == []


def test_handwritten_hex_comm_with_a_space_is_decoded():
    comm = b"my tool".hex().upper()
    (event,) = events_of([syscall_line(9, '"k"', comm=comm), proctitle_line(9)])
    assert event.comm == "my tool"
    assert event.auid == 1000


def test_handwritten_interleaved_events_keep_their_own_records():
    # Two CPUs: event 21's records arrive around event 22's; a later serial does not end 21.
    lines = [
        syscall_line(21, '"first"'),
        syscall_line(22, '"second"', time="1700000000.101"),
        "type=CWD msg=audit(1700000000.100:21): cwd=\"/srv\"",
        proctitle_line(22, time="1700000000.101"),
        proctitle_line(21),
    ]
    events = events_of(lines)
    assert [(e.serial, e.keys) for e in events] == [(22, ("second",)), (21, ("first",))]
    first = events[1]
    assert (first.record_types, first.cwd) == (("SYSCALL", "CWD", "PROCTITLE"), "/srv")


def test_handwritten_event_without_proctitle_ends_when_the_log_moves_on_or_ends():
    lone = syscall_line(30, '"late"')
    assert [e.keys for e in events_of([lone])] == [("late",)]  # end of input
    assembler = EventAssembler()
    assert assembler.feed(parse_record(lone)) == []  # type: ignore[arg-type]
    later = parse_record(syscall_line(31, '"next"', time="1700000003.000"))
    assert [e.serial for e in assembler.feed(later)] == [30]  # type: ignore[arg-type]


def test_handwritten_straggling_eoe_makes_no_second_event():
    eoe = "type=EOE msg=audit(1700000000.100:40):"
    events = events_of([syscall_line(40, '"k"'), proctitle_line(40), eoe])
    assert [e.serial for e in events] == [40]


def test_handwritten_user_message_is_one_record_with_its_nested_fields():
    line = ("type=USER_CMD msg=audit(1700000000.200:50): pid=77 uid=1000 auid=1000 ses=3 "
            "msg='cwd=\"/home/u\" cmd=6C73202D6C exe=\"/usr/bin/sudo\" terminal=pts/0 res=success'"
            "\x1dUID=\"u\" AUID=\"u\"")
    assembler = EventAssembler()
    (event,) = assembler.feed(parse_record(line))  # type: ignore[arg-type]
    assert (event.pid, event.exe, event.record_types) == (77, "/usr/bin/sudo", ("USER_CMD",))
    assert parse_record(line).fields["cmd"] == "ls -l"  # type: ignore[union-attr]


def test_handwritten_node_prefix_and_lines_that_are_not_records():
    lines = ["", "garbage", "type=SYSCALL msg=audit(", "node=lab1 " + syscall_line(60, '"k"'), proctitle_line(60)]
    assert [e.serial for e in events_of(lines)] == [60]


def test_handwritten_open_events_are_bounded():
    assembler = EventAssembler(max_pending=3)
    done = []
    for serial in range(10):
        done += assembler.feed(parse_record(syscall_line(serial, '"k"')))  # type: ignore[arg-type]
    assert [e.serial for e in done] == list(range(7))  # the oldest went out as they were
    assert [e.serial for e in assembler.flush()] == [7, 8, 9]


# --- running auditd: the pure parts ----------------------------------------------------------------

def test_auditd_conf_never_acts_on_the_machine(tmp_path):
    conf = auditd_conf(tmp_path)
    settings = dict(line.split(" = ", 1) for line in conf.splitlines() if " = " in line)
    assert settings["log_file"] == str(tmp_path / "audit.log")
    assert settings["plugin_dir"] == str(tmp_path / "plugins.d")
    assert (settings["log_format"], settings["flush"], settings["freq"]) == ("ENRICHED", "INCREMENTAL_ASYNC", "50")
    assert (settings["max_log_file_action"], settings["name_format"]) == ("IGNORE", "NONE")
    for action in ("space_left_action", "admin_space_left_action", "disk_full_action", "disk_error_action"):
        assert settings[action] not in ("HALT", "SINGLE", "SUSPEND", "EXEC"), action
    assert "tcp_listen_port" not in settings and "dispatcher" not in settings


def test_auditd_conf_refuses_a_path_auditd_would_skip(tmp_path):
    with pytest.raises(AuditdUnavailable, match="too long"):
        auditd_conf(tmp_path / ("x" * 150))


def test_rule_lines_leave_out_what_the_lab_owns():
    text = "## comment\n-D\n-b 8192\n-f 2\n\n-a always,exit -F arch=b64 -S setns -k c\n-w /etc/hosts -p wa -k h\n-e 2\n"
    rules, stripped = rule_lines("x.rules", text)
    assert [(r.line, r.text) for r in rules] == [(6, "-a always,exit -F arch=b64 -S setns -k c"),
                                                 (7, "-w /etc/hosts -p wa -k h")]
    assert [r.text for r in stripped] == ["-D", "-b 8192", "-f 2", "-e 2"]


def test_read_rule_files_takes_names_only(tmp_path):
    (tmp_path / "a.rules").write_text("-w /etc/hosts -p wa -k h\n")
    assert read_rule_files(["a.rules"], tmp_path) == [("a.rules", "-w /etc/hosts -p wa -k h\n")]
    with pytest.raises(AuditdUnavailable, match="not a path"):
        read_rule_files(["../a.rules"], tmp_path)
    with pytest.raises(AuditdUnavailable, match=r"missing\.rules"):
        read_rule_files(["missing.rules"], tmp_path)


STATUS_TEXT = """enabled 0
failure 1
pid 0
rate_limit 0
backlog_limit 64
lost 0
backlog 0
backlog_wait_time 15000
backlog_wait_time_actual 0
loginuid_immutable 0 unlocked
"""  # `auditctl -s` on the lab host, 2026-11-30


def test_audit_status_parse_and_what_to_put_back():
    before = AuditStatus.parse(STATUS_TEXT)
    assert before == AuditStatus(enabled=0, failure=1, pid=0, rate_limit=0, backlog_limit=64, lost=0,
                                 backlog_wait_time=15000)
    during = AuditStatus.parse(STATUS_TEXT.replace("backlog_limit 64", "backlog_limit 8192")
                               .replace("enabled 0", "enabled 1"))
    assert kernel._settings_to_restore(before, during) == [("-b", "64"), ("-e", "0")]
    with pytest.raises(AuditdUnavailable, match="pid"):
        AuditStatus.parse("enabled 0\n")


def test_refuses_without_root(tmp_path, monkeypatch):
    monkeypatch.setattr(detector, "find_binary", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(detector.os, "geteuid", lambda: 1000)
    with pytest.raises(AuditdUnavailable, match="needs root"):
        AuditdDetector(tmp_path).start()


def test_refuses_without_auditd(tmp_path, monkeypatch):
    monkeypatch.setattr(detector, "find_binary", lambda name: None if name == "auditd" else f"/usr/sbin/{name}")
    with pytest.raises(AuditdUnavailable, match="auditd not installed"):
        AuditdDetector(tmp_path).start()


def test_poll_follows_a_growing_log_across_partial_lines(tmp_path):
    lines = recorded_lines()
    unshare = [i for i, line in enumerate(lines) if ":420)" in line]
    log = tmp_path / "audit.log"
    detector = AuditdDetector(tmp_path)  # never started: poll reads whatever the log holds
    assert detector.poll() == []  # no log yet
    head = "\n".join(lines[: unshare[-1]]) + "\n" + lines[unshare[-1]][:40]  # stops inside the PROCTITLE
    log.write_text(head, encoding="utf-8")
    assert [a.rule for a in detector.poll()] == []
    with log.open("a", encoding="utf-8") as handle:
        handle.write(lines[unshare[-1]][40:] + "\n")
    assert [(a.rule, a.pid) for a in detector.poll()] == [("container-config", 27916)]
    with log.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines[unshare[-1] + 1:]) + "\n")
    assert len(detector.poll()) == len(RECORDED_ALERTS) - 1
    assert detector.unreadable() == 0


def test_poll_reads_a_truncated_log_again_from_its_start(tmp_path):
    log = tmp_path / "audit.log"
    detector = AuditdDetector(tmp_path)
    log.write_text("\n".join(recorded_lines()) + "\n", encoding="utf-8")
    assert len(detector.poll()) == len(RECORDED_ALERTS)
    log.write_text(syscall_line(1, '"again"') + "\n" + proctitle_line(1) + "\n")  # HAND-WRITTEN
    assert [a.rule for a in detector.poll()] == ["again"]


def test_finish_reads_what_is_left_after_the_last_poll(tmp_path):
    lines = recorded_lines()
    log = tmp_path / "audit.log"
    detector = AuditdDetector(tmp_path)  # never started: finish only drains the log
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert len(detector.poll()) == len(RECORDED_ALERTS)
    with log.open("a", encoding="utf-8") as handle:  # HAND-WRITTEN: an event whose PROCTITLE never came,
        handle.write(syscall_line(2, '"after"'))  # on a last line without its newline
    assert [a.rule for a in detector.finish()] == ["after"]
