"""/proc inspection: what a process really runs, and a scan for executables deleted after start.

``process_fields`` reads one process: its executable (``/proc/<pid>/exe``, whose link text ends in
`` (deleted)`` once the file is unlinked), its argv, comm and parent, and whether argv[0] leads to
the program that runs (resolved inside the process's own root: see argv0.py). It also answers the question
the drop-and-execute rule asks: is the executable in the container's own changes (its overlay upper
directory) rather than in the image? That is one ``stat`` on the host, and works even after a
short-lived process has exited, because the upper directory outlives it.

``ProcfsSensor`` exists because deletion happens *after* exec: the exec tracepoint sees a file that
is still there. It re-reads ``/proc/<pid>/exe`` of the processes of lab containers every
``interval_s`` (2 s). It stays cheap because it never walks all of /proc: it reads each known
container's ``cgroup.procs`` (one read per container) and does one ``readlink`` per process, and it
reports a process once (per pid and start time), not on every pass.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any, ClassVar

from detectors.event import Event, new_event
from detectors.sensors.argv0 import file_identity, judge_argv0
from detectors.sensors.base import Emit, ThreadedSensor
from detectors.sensors.containers import ContainerDirectory, ContainerInfo, cgroup_dirs
from detectors.sensors.mountinfo import mount_of

DELETED_SUFFIX = " (deleted)"
SCAN_INTERVAL_S = 2.0


def _read(path: str, limit: int = 4096) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except OSError:
        return None


def start_time(pid: int, proc: str = "/proc") -> int:
    """Clock ticks since boot when the process started: with the pid, a unique process identity."""
    raw = _read(f"{proc}/{pid}/stat")
    if not raw:
        return 0
    with contextlib.suppress(IndexError, ValueError):
        return int(raw.rsplit(b")", 1)[1].split()[19])
    return 0


def _ppid(pid: int, proc: str) -> int:
    raw = _read(f"{proc}/{pid}/stat")
    if not raw:
        return 0
    with contextlib.suppress(IndexError, ValueError):
        return int(raw.rsplit(b")", 1)[1].split()[1])
    return 0


def in_layers(info: ContainerInfo | None, path: str, exe_size: int | None = None) -> tuple[bool, bool]:
    """(in the container's changes, in the image): where the file at ``path`` (container view) lives.

    The engine leaves empty mount-point stubs in the upper directory for files it bind-mounts
    (``/sbin/docker-init``): an empty file, or one whose size differs from what the process really
    runs, is not the program that was executed.
    """
    if info is None or not info.upper_dir or not path.startswith("/"):
        return False, False
    try:
        upper_size = os.stat(info.upper_dir + path).st_size
    except OSError:
        upper_size = -1
    changed = upper_size > 0 and (exe_size is None or exe_size == upper_size)
    in_image = any(os.path.lexists(layer + path) for layer in info.lower_dirs)
    return changed, in_image


def mounted_executable(info: ContainerInfo, path: str, pid: int | None, proc: str = "/proc") -> dict[str, Any]:
    """Where an executable that is not on the container's overlay lives, read through the running
    process's root (or the container init's, once the process is gone): the filesystem type of its
    mount, and whether the file was written after the container started (its ctime; a file copied
    into a volume before start, by the engine or an init step, is older)."""
    fields: dict[str, Any] = {}
    if not path.startswith("/"):
        return fields
    for holder in (pid, info.pid):
        if not holder:
            continue
        try:
            stat = os.stat(f"{proc}/{holder}/root{path}")
        except OSError:
            continue
        fields["process.executable_filesystem"] = mount_of(holder, path, proc)
        if info.started_at:
            fields["process.executable_written_after_start"] = stat.st_ctime > info.started_at
        break
    return fields


# The dynamic loader run as a program (``/lib64/ld-linux-x86-64.so.2 ./payload``) maps and runs the
# program named in its arguments: the process's executable is the loader, which is in every image.
LOADER = re.compile(r"^ld-(linux|musl)[^/]*\.so(\.[0-9]+)*$")
_LOADER_VALUE_OPTIONS = {"--library-path", "--inhibit-rpath", "--audit", "--preload", "--argv0",
                         "--glibc-hwcaps-prepend", "--glibc-hwcaps-mask"}
_LOADER_INSPECT_OPTIONS = {"--list", "--verify", "--help", "--version", "--list-tunables", "--list-diagnostics"}


def loaded_program(executable: str, args: list[str], cwd: str, environ: bytes = b"") -> str | None:
    """The program a directly run dynamic loader runs, as a path in the container; None when the
    executable is not the loader, or the loader only inspects (``ldd``: --list, --verify, or
    LD_TRACE_LOADED_OBJECTS in its environment, which lists libraries and runs nothing)."""
    if not LOADER.match(os.path.basename(executable)) or b"LD_TRACE_LOADED_OBJECTS=" in environ:
        return None
    i = 1
    while i < len(args) and args[i].startswith("--"):
        if args[i] in _LOADER_INSPECT_OPTIONS:
            return None
        i += 2 if args[i] in _LOADER_VALUE_OPTIONS else 1
    if i >= len(args) or not args[i]:
        return None
    return os.path.normpath(os.path.join(cwd or "/", args[i]))


def process_fields(pid: int, info: ContainerInfo | None, filename: str = "", proc: str = "/proc", *,
                   gone: bool = False, ppid: int = 0, replaced: bool = False) -> dict[str, Any]:
    """Read what /proc says about ``pid``. ``filename`` is the path the exec tracepoint reported,
    used when the process has already gone. ``gone`` says the trace stream already showed its exit:
    then /proc is not read at all (the pid may belong to another process by now). ``ppid`` is the
    parent the fork tracepoint named, used when /proc cannot say. ``replaced`` says the stream showed
    the process exec another program since: its executable, argv and comm in /proc are that program's
    now, so they are not read (its parent and its place in the container's layers still are)."""
    fields: dict[str, Any] = {"process.pid": pid}
    exe = ""
    unread = gone or replaced
    if not unread:
        with contextlib.suppress(OSError):
            exe = os.readlink(f"{proc}/{pid}/exe")
    deleted = exe.endswith(DELETED_SUFFIX)
    if deleted:
        exe = exe[: -len(DELETED_SUFFIX)]
    executable = exe or filename
    fields["process.executable"] = executable
    fields["process.executable_deleted"] = deleted
    fields["process.exited_before_inspection"] = not exe and not replaced
    if replaced:
        fields["process.replaced_before_inspection"] = True
    comm = None if unread else _read(f"{proc}/{pid}/comm")
    name = comm.decode(errors="replace").strip() if comm else os.path.basename(filename)
    fields["process.name"] = name
    # No argv once the process is gone: the argv fields stay absent (not empty), so no rule that
    # judges argv decides on a process it never saw.
    # /proc is read field by field while the process runs: if it execs between reads (``env`` handing
    # over to ``python3``), the argv read may belong to the next program and the executable to the
    # first. The executable's identity is taken before and after the argv is read and judged; if it
    # changed, the process was replaced under inspection and its argv is not judged at all.
    program = None if unread else file_identity(f"{proc}/{pid}/exe")
    cmdline = None if unread else _read(f"{proc}/{pid}/cmdline")
    loaded = None
    if cmdline:
        args = [a.decode(errors="replace") for a in cmdline.rstrip(b"\0").split(b"\0")]
        fields["process.args"] = args
        fields["process.command_line"] = " ".join(args)
        argv0 = args[0] if args else ""
        fields["process.argv0"] = argv0
        cwd = ""
        with contextlib.suppress(OSError):
            cwd = os.readlink(f"{proc}/{pid}/cwd")
        judgement = judge_argv0(argv0, filename, root=f"{proc}/{pid}/root", exe=f"{proc}/{pid}/exe", cwd=cwd,
                                executable=executable)
        # The environment is read only for the loader run as a program (rare): every exec passes here.
        environ = _read(f"{proc}/{pid}/environ", 1 << 20) if LOADER.match(os.path.basename(executable)) else None
        loaded = loaded_program(executable, args, cwd, environ or b"")
        after = file_identity(f"{proc}/{pid}/exe")  # None: it exited, which replaced nothing
        if program is not None and after in (None, program):
            fields["process.argv0_matches_executable"] = judgement.matches
            fields["process.argv0_resolved"] = judgement.resolved
        else:
            fields["process.replaced_before_inspection"] = True
            loaded = None
    ppid = (0 if gone else _ppid(pid, proc)) or ppid
    if ppid:
        fields["process.parent.pid"] = ppid
        parent_exe = ""
        with contextlib.suppress(OSError):
            parent_exe = os.readlink(f"{proc}/{ppid}/exe")
        fields["process.parent.executable"] = parent_exe.removesuffix(DELETED_SUFFIX)
        parent_comm = _read(f"{proc}/{ppid}/comm")
        if parent_comm:
            fields["process.parent.name"] = parent_comm.decode(errors="replace").strip()
    exe_size: int | None = None
    if exe:
        with contextlib.suppress(OSError):
            exe_size = os.stat(f"{proc}/{pid}/exe").st_size
    # What runs: the executable, or the program a directly run loader maps (its place in the layers
    # is the one that says whether it was dropped; the loader itself is always in the image).
    running = executable
    if loaded:
        fields["process.loaded_program"] = running = loaded
        exe_size = None
    changed, in_image = in_layers(info, running, exe_size)
    # Said only where the container's layers are known here: a pod on a kind node is attributed by its
    # cgroup, but its layers are its node's containerd's (the node agent's), and "not in the image"
    # would then be a claim about nothing (the evidence would list every program it ran as dropped).
    if info is not None and info.upper_dir:
        fields["process.executable_in_container_changes"] = changed
        fields["process.executable_in_image"] = in_image
    if info is not None and not changed and not in_image:
        # Not on the overlay at all: a volume, a bind mount or a tmpfs. Whether it was written there
        # after the container started is what says "dropped", wherever it lives.
        fields.update(mounted_executable(info, running, None if unread else pid, proc))
    directory = os.path.dirname(executable)
    fields["process.executable_directory"] = directory
    return fields


class ProcfsSensor(ThreadedSensor):
    """Periodic scan of lab containers' processes for executables deleted after start."""

    name: ClassVar[str] = "procfs"

    def __init__(self, directory: ContainerDirectory, interval_s: float = SCAN_INTERVAL_S, proc: str = "/proc") -> None:
        super().__init__(extra_stats=("scans", "processes_checked"))
        self.directory = directory
        self.interval_s = interval_s
        self.proc = proc
        self._reported: set[tuple[int, int]] = set()

    def observe(self, event: Event) -> None:
        self.directory.observe(event)

    def run(self) -> None:
        self.directory.load_running()
        while not self._stop.wait(self.interval_s):
            try:
                self.scan(self.send)
            except Exception:
                self._stats.errors += 1

    def _pids(self, info: ContainerInfo) -> list[int]:
        dirs = cgroup_dirs(info.id, info.pid, info.cgroup_root)
        base = dirs.get("v2") or dirs["cpu"]
        raw = _read(f"{base}/cgroup.procs", 1 << 20)
        return [int(p) for p in raw.split()] if raw else []

    def scan(self, emit: Emit) -> None:
        self._stats.extra["scans"] += 1
        alive: set[tuple[int, int]] = set()
        for info in self.directory.running():
            for pid in self._pids(info):
                self._stats.extra["processes_checked"] += 1
                try:
                    exe = os.readlink(f"{self.proc}/{pid}/exe")
                except OSError:
                    continue
                if not exe.endswith(DELETED_SUFFIX):
                    continue
                key = (pid, start_time(pid, self.proc))
                alive.add(key)
                if key in self._reported:
                    continue
                self._reported.add(key)
                event = new_event("linux", "linux.process", "executable_deleted")
                event["event.category"] = "process"
                event["event.type"] = "info"
                event.update(info.fields())
                event.update(process_fields(pid, info, proc=self.proc))
                emit(event)
        self._reported &= alive  # forget processes that ended: memory stays bounded
