"""The exec sensor's process lifecycle: trace_pipe parsing of exec/fork/exit/cgroup-attach lines and
the pid -> container map fed from them, on lines recorded from this kernel (6.18) into
tests/fixtures/host/*.trace:

- tracefs-docker-exec.trace: one `docker exec <box> sh -c '... | grep ...'` in a lab container:
  runc forks its init on the host, writes it into /docker/<id> (cgroup_attach_task, once per v1
  hierarchy), the init execs sh, sh forks grep, grep exits within a millisecond.
- tracefs-host-odd-names.trace: host programs with hostile file names (a newline followed by a
  forged exit line; " pid=1 old_pid=1" inside the name), and a non-leader thread's exec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, load_rules
from detectors.sensors.attribution import Attribution, parse_cgroup_path
from detectors.sensors.pidmap import PidMap, cgroup_tasks
from detectors.sensors.tracefs_exec import TracefsExecSensor, TraceParser, exits_ahead, parse_line, replaced_ahead

FIXTURES = Path(__file__).parents[1] / "fixtures" / "host"
CID = "2509989e3f5cf0706c99946fb883bb4eb171689b922c6ed593fd7775d35d86b8"
BOX = Attribution(CID)


def _lines(name: str) -> list[bytes]:
    return (FIXTURES / name).read_bytes().split(b"\n")


def _records(name: str) -> tuple[list[tuple[Any, ...]], TraceParser]:
    parser = TraceParser()
    return [r for line in _lines(name) if (r := parser.feed(line)) is not None], parser


class _NoEngine:
    """The container directory without an engine: the container is unknown, only its id is used."""

    def get(self, container_id: str) -> None:
        return None

    def listen(self, callback: object) -> None:
        pass


def _sensor() -> TracefsExecSensor:
    return TracefsExecSensor(_NoEngine(), "test")  # type: ignore[arg-type]


def _replay(sensor: TracefsExecSensor, name: str, proc: Path) -> list[dict[str, Any]]:
    """Feed a recording through the sensor's own batch handling, with an empty /proc: every
    process is already gone, as a burst's are by the time anyone looks."""
    events: list[dict[str, Any]] = []
    original = sensor.build_event
    sensor.build_event = lambda pid, filename, proc_=str(proc), **kw: original(pid, filename, proc_, **kw)  # type: ignore[method-assign]
    sensor._handle_lines(_lines(name), events.append)
    return events


def test_recorded_docker_exec_lines_parse():
    records, parser = _records("tracefs-docker-exec.trace")
    kinds = [r[0] for r in records]
    assert kinds.count("attach") == 10 and kinds.count("exec") == 4 and parser.malformed == 0
    assert ("fork", 16125, 16126) in records  # runc:[1:CHILD] forks the container's init
    assert ("attach", 16126, f"/docker/{CID}") in records
    assert ("fork", 16126, 16132) in records and ("exit", 16132) in records
    assert ("exec", 16132, 16132, "/usr/bin/grep", 6319.25375) in records


def test_hostile_file_names_do_not_forge_records():
    records, parser = _records("tracefs-host-odd-names.trace")
    assert parser.malformed == 0
    # The forged "sched_process_exit ... pid=777" was part of a file name, not an event.
    assert ("exit", 777) not in records
    forged = [r for r in records if r[0] == "exec" and r[1] == 11023]
    assert len(forged) == 1 and "pid=777" in forged[0][3] and forged[0][3].startswith("/tmp/h-exec/w/nl\n")
    # " pid=1 old_pid=1" inside a name is not the record's pid: that comes from the kernel's tail.
    assert ("exec", 11024, 11024, "/tmp/h-exec/w/odd pid=1 old_pid=1", 6504.262437) in records
    assert ("exit", 11024) in records  # comm "odd pid=1 old_p" does not fool the exit either
    assert ("exec", 11025, 11066, "/bin/true", 6504.353542) in records  # a thread exec'd: old_pid is its tid


def test_single_exec_line_keeps_the_old_interface():
    line = (b"           <...>-17643   [001] .....   867.562652: sched_process_exec: "
            b"filename=/usr/bin/sleep pid=17643 old_pid=17643")
    assert parse_line(line) == ("/usr/bin/sleep", 17643)
    assert parse_line(b"CPU:1 [LOST 12 EVENTS]") is None


def test_lost_events_are_counted():
    parser = TraceParser()
    parser.feed(b"CPU:1 [LOST 12 EVENTS]")
    assert parser.lost == 12


def test_short_lived_container_child_is_attributed_after_it_exited(tmp_path: Path):
    sensor = _sensor()
    events = _replay(sensor, "tracefs-docker-exec.trace", tmp_path)
    by_pid = {e["process.pid"]: e for e in events}
    # runc's own execs on the host (16122) are not container processes; sh (moved in by runc's
    # cgroup write) and grep (forked by sh, gone within a millisecond) are.
    assert set(by_pid) == {16126, 16132}
    grep = by_pid[16132]
    assert grep["container.id"] == CID
    assert grep["process.executable"] == "/usr/bin/grep" and grep["process.name"] == "grep"
    assert grep["process.exited_before_inspection"] is True
    assert grep["process.parent.pid"] == 16126  # from the fork event, /proc could not say
    assert "process.args" not in grep and "process.argv0_matches_executable" not in grep
    stats = sensor.stats
    assert stats["by_map"] == 2 and stats["by_proc"] == 0 and stats["host_execs"] == 2
    assert len(sensor.pids) == 0  # every task of the recording exited: nothing is kept


def test_exit_in_the_same_batch_means_proc_is_not_read(tmp_path: Path):
    # A live process with grep's pid in a fake /proc: it is another process by now, so it must not
    # lend its argv to the exited grep.
    (tmp_path / "16132").mkdir()
    (tmp_path / "16132" / "cmdline").write_bytes(b"/usr/sbin/nginx\0-g\0daemon off;\0")
    (tmp_path / "16132" / "comm").write_bytes(b"nginx\n")
    events = _replay(_sensor(), "tracefs-docker-exec.trace", tmp_path)
    grep = next(e for e in events if e["process.pid"] == 16132)
    assert grep["process.name"] == "grep" and "process.command_line" not in grep


def test_argv_rules_stay_silent_without_argv(tmp_path: Path):
    engine = DetectionEngine(load_rules([DEFAULT_RULE_DIR]))
    events = _replay(_sensor(), "tracefs-docker-exec.trace", tmp_path)
    fired = [a.rule_id for e in events for a in engine.process(dict(e))]
    assert fired == []


def _fake_proc(root: Path, pid: int, cgroup: str, started_ticks: int) -> None:
    (root / str(pid)).mkdir(parents=True)
    (root / str(pid) / "cgroup").write_text(cgroup)
    fields = ["S", "1"] + ["0"] * 17 + [str(started_ticks)] + ["0"] * 10
    (root / str(pid) / "stat").write_text(f"{pid} (sh) " + " ".join(fields) + "\n")


def test_a_live_process_is_attributed_by_proc_over_the_map(tmp_path: Path):
    # runc exec on cgroup v2 clones straight into the container's cgroup (CLONE_INTO_CGROUP): no
    # attach event, so a kind node's runc child inherits the node in the map. /proc knows the pod.
    inner = "d" * 64
    sensor = _sensor()
    sensor._boot_clock = True
    sensor.pids.remember(500, BOX)
    sensor.pids.fork(500, 501)
    _fake_proc(tmp_path, 501, f"4:memory:/docker/{CID}/kubepods/pod1/{inner}\n", started_ticks=100)
    event = sensor.build_event(501, "/usr/bin/sh", str(tmp_path), stamp=2.0)
    assert event is not None and event["container.id"] == inner
    assert event["orchestrator.node.container_id"] == CID
    assert sensor.pids.lookup(501) == (Attribution(CID, (inner,)), 500)  # corrected for its children


def test_a_reused_pid_is_not_read(tmp_path: Path):
    # The exec at t=2.0 s; /proc/501 now is a host process that started at t=5.0 s: the pid was
    # reused, so the map (fork events) decides and nothing of the newcomer is read.
    sensor = _sensor()
    sensor._boot_clock = True
    sensor.pids.remember(500, BOX)
    sensor.pids.fork(500, 501)
    _fake_proc(tmp_path, 501, "0::/user.slice/session-1.scope\n", started_ticks=500)
    (tmp_path / "501" / "cmdline").write_bytes(b"/usr/sbin/cron\0")
    event = sensor.build_event(501, "/usr/bin/sh", str(tmp_path), stamp=2.0)
    assert event is not None and event["container.id"] == CID
    assert event["process.exited_before_inspection"] is True and "process.command_line" not in event


def test_exits_ahead_marks_only_execs_whose_exit_follows():
    records = [("exec", 5, 5, "/a", 1.0), ("fork", 1, 6), ("exec", 6, 6, "/b", 1.0), ("exit", 5), ("fork", 1, 5),
               ("exec", 5, 5, "/c", 1.1)]
    assert exits_ahead(records) == [True, False, False, False, False, False]


def test_replaced_ahead_marks_execs_whose_process_execs_again():
    # 5 runs a script that execs /b (an entrypoint's `exec "$@"`); 6 exits, and its pid is reused by a
    # new process that execs: that is another process, not a replacement of the first.
    records = [("exec", 5, 5, "/entry.sh", 1.0), ("exec", 6, 6, "/x", 1.0), ("exec", 5, 5, "/b", 1.0),
               ("exit", 6), ("fork", 1, 6), ("exec", 6, 6, "/y", 1.1)]
    assert replaced_ahead(records) == [True, False, False, False, False, False]


def test_child_inherits_and_exit_evicts():
    pids = PidMap()
    pids.remember(100, BOX)
    pids.fork(100, 101)
    pids.fork(101, 102)
    assert pids.lookup(102) == (BOX, 101)
    pids.exit(101)
    assert pids.lookup(101) is None and pids.lookup(102) is not None
    pids.fork(1, 7)  # host forks stay out of the map
    assert pids.lookup(7) is None and len(pids) == 2


def test_host_fork_onto_a_stale_pid_clears_it():
    pids = PidMap()
    pids.remember(200, BOX)  # its exit was lost
    pids.fork(1, 200)  # the pid is reused by a host process
    assert pids.lookup(200) is None


def test_cgroup_attach_moves_in_and_out():
    pids = PidMap()
    pids.attach(300, parse_cgroup_path(f"/docker/{CID}"))
    assert pids.lookup(300) == (BOX, 0)
    pids.attach(300, parse_cgroup_path("/user.slice/session-1.scope"))
    assert pids.lookup(300) is None


def test_thread_exec_is_found_by_its_old_pid():
    pids = PidMap()
    pids.remember(11066, BOX)
    pids.exit(11025)  # the leader is killed first; the thread takes its pid
    assert pids.lookup(11025, 11066) == (BOX, 0)


def test_map_is_capped():
    pids = PidMap(cap=3)
    for pid in range(10):
        pids.remember(pid, BOX)
    assert len(pids) == 3 and pids.evicted_by_cap == 7 and pids.lookup(9) is not None and pids.lookup(0) is None


def test_seed_reads_nested_cgroups(tmp_path: Path):
    inner = "c" * 64
    box = tmp_path / "cpuacct" / "docker" / CID
    (box / "kubepods" / inner).mkdir(parents=True)
    (box / "tasks").write_text("10\n11\n")
    (box / "kubepods" / inner / "tasks").write_text("20\n")
    found = {a: tids for a, tids in cgroup_tasks(str(box), str(tmp_path / "cpuacct"), "tasks")}
    assert found[BOX] == [10, 11]
    assert found[Attribution(CID, (inner,))] == [20]
