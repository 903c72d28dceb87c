"""Where a container's processes send their stdout and stderr: read from /proc, not guessed.

Why only the container's *main* process tree (the container's init, from ``State.Pid``, and its
descendants): that is the output the engine collects into the container's log. A payload that
runs ``exec >/dev/null 2>&1`` keeps nothing for the log. Processes started by ``docker exec``
hang off the runtime's shim, not off the container's init; their output never reaches the
container log anyway, and ``docker exec -d`` gives them /dev/null by design, so they are left out.

Which of them hold the container's output: the top of the tree (the container's init, and the
process an init such as docker-init or tini runs for it). What they print is what the log gets;
a child they start with its output sent to /dev/null (a quiet build step, a probe) leaves the
container's log as it was. Each event says whether its process is one (``process.io.container_output``),
and whether it still keeps the log stream on another fd to restore it (``process.io.log_stream_kept``:
dash points its own fds 1 and 2 at /dev/null while it runs a command redirected there).

What the log stream is: the pipes the container's runtime shim (the parent of the container's init)
holds and copies into the engine's log, or the container's terminal. Each of stdout and stderr is
classified against them (``process.io.stdout.kind``): ``log`` (still reaches the engine), ``devnull``,
``closed``, ``own-file`` (a file on the container's own overlay or tmpfs, which nothing outside the
container reads), ``mounted-file`` (a file on a volume or bind mount, where a shipper may collect it),
``pipe`` or ``socket`` (another process, which may pass it on). Read from the fds themselves, so
`exec >/dev/null`, `exec >/tmp/x`, `exec >&-` and Python's dup2/close look the same whichever way
they were done.

When: the container's tree is read shortly after the engine reports it started (0.5, 2 and 5 s,
because a payload redirects itself a moment after it starts), and again every few seconds while it
runs (a payload may silence itself later). Only processes that have lived for at least
``SETTLED_S`` are reported: a short helper such as ``curl -s >/dev/null`` in a health check is
gone before it matters, while a silenced payload stays. One event per process and targets.
"""

from __future__ import annotations

import os
import threading
import time
from typing import ClassVar

from detectors.event import Event, new_event
from detectors.sensors.base import ThreadedSensor
from detectors.sensors.mountinfo import OWN_FILESYSTEMS, mount_of

CHECK_AFTER_START_S = (0.5, 2.0, 5.0)
RESCAN_EVERY_S = 5.0
SETTLED_S = 1.0
DISCARDING_TARGETS = ("/dev/null",)
TERMINALS = ("/dev/pts/", "/dev/console")
INITS = ("docker-init", "tini", "dumb-init", "catatonit")  # minimal inits that run the real entrypoint


def _clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return 100


def read_stat(pid: int, proc: str = "/proc") -> tuple[int, float, str] | None:
    """(parent pid, start time in seconds since boot, comm) of a process, or None if it is gone."""
    try:
        with open(f"{proc}/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1: text.rindex(")")]
    rest = text.rsplit(")", 1)[1].split()
    return int(rest[1]), int(rest[19]) / _clock_ticks(), comm


def uptime(proc: str = "/proc") -> float:
    with open(f"{proc}/uptime") as handle:
        return float(handle.read().split()[0])


def descendants(root: int, proc: str = "/proc") -> list[int]:
    """``root`` and every process below it, found by parent pid over all of /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir(proc):
        if name.isdigit():
            stat = read_stat(int(name), proc)
            if stat is not None:
                children.setdefault(stat[0], []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def fd_target(pid: int, fd: int, proc: str = "/proc") -> str:
    try:
        return os.readlink(f"{proc}/{pid}/fd/{fd}")
    except OSError:
        return ""  # closed, or the process is gone


def log_streams(root: int, parent: int | None, init: bool, proc: str = "/proc") -> frozenset[str]:
    """The pipes the engine reads the container's output from: those its runtime shim (the parent
    of the container's init) holds, and the init's own fd 1 when a minimal init keeps it."""
    found = set()
    if parent is not None:
        try:
            names = os.listdir(f"{proc}/{parent}/fd")
        except OSError:
            names = []
        found |= {t for n in names if n.isdigit() and (t := fd_target(parent, int(n), proc)).startswith("pipe:")}
    if init and fd_target(root, 1, proc).startswith("pipe:"):
        found.add(fd_target(root, 1, proc))
    return frozenset(found)


def target_kind(pid: int, target: str, streams: frozenset[str], proc: str = "/proc") -> str:
    """Where an fd sends output, relative to the container's log (see the module docstring)."""
    if target in streams or target.startswith(TERMINALS):
        return "log"
    if target == "/dev/null":
        return "devnull"
    if not target:
        return "closed"
    if target.startswith("pipe:"):
        # Without the shim's view (unreadable), any pipe may be the log: never call it diverted.
        return "pipe" if streams else "log"
    if target.startswith(("socket:", "anon_inode:")):
        return "socket"
    path = target.removesuffix(" (deleted)")
    return "own-file" if mount_of(pid, path, proc) in OWN_FILESYSTEMS else "mounted-file"


def keeps_stream(pid: int, stream: str | frozenset[str], proc: str = "/proc") -> bool:
    """Whether any fd of ``pid`` other than 0-2 still points at ``stream`` (the container's log pipe).

    A shell that runs one command with its output redirected (dash: ``cmd >/dev/null``) points its
    own fds 1 and 2 at /dev/null while the command runs, and keeps the originals on a high fd to put
    them back; ``exec >/dev/null`` keeps nothing."""
    streams = frozenset({stream}) if isinstance(stream, str) else stream
    if not streams - {""}:
        return False
    try:
        names = os.listdir(f"{proc}/{pid}/fd")
    except OSError:
        return False
    return any(name.isdigit() and int(name) > 2 and fd_target(pid, int(name), proc) in streams for name in names)


def stdio_event(container_id: str, pid: int, parent: int, comm: str, age: float, stdout: str, stderr: str,
                command_line: str, container_output: bool = False, log_stream_kept: bool = False,
                kinds: tuple[str, str] = ("", "")) -> Event:
    event = new_event("linux", "linux.process_io", "stdio_inspected")
    event["event.category"] = "process"
    event["container.id"] = container_id
    event["process.pid"] = pid
    event["process.parent.pid"] = parent
    event["process.name"] = comm
    event["process.command_line"] = command_line
    event["process.uptime_s"] = round(age, 2)
    event["process.io.stdout.path"] = stdout
    event["process.io.stderr.path"] = stderr
    event["process.io.stdout.kind"], event["process.io.stderr.kind"] = kinds
    event["process.io.container_output"] = container_output
    event["process.io.log_stream_kept"] = log_stream_kept
    return event


class ProcessStdioSensor(ThreadedSensor):
    name: ClassVar[str] = "process-stdio"

    def __init__(self, proc: str = "/proc") -> None:
        super().__init__()
        self.proc = proc
        self._containers: dict[str, int] = {}  # container id -> init pid, while running
        self._due: list[tuple[float, str]] = []  # (monotonic time, container id)
        self._reported: set[tuple[int, float, str, str]] = set()
        self._lock = threading.Lock()

    def observe(self, event: Event) -> None:
        if event.get("event.module") != "docker" or event.get("event.type") != "container":
            return
        cid, action = str(event.get("container.id") or ""), event.get("event.action")
        with self._lock:
            if action == "start" and event.get("container.pid"):
                self._containers[cid] = int(event["container.pid"])
                now = time.monotonic()
                self._due.extend((now + delay, cid) for delay in CHECK_AFTER_START_S)
            elif action in ("die", "destroy"):
                self._containers.pop(cid, None)

    def run(self) -> None:
        last_rescan = time.monotonic()
        while not self._stop.wait(0.25):
            now = time.monotonic()
            with self._lock:
                due = {cid for at, cid in self._due if at <= now}
                self._due = [(at, cid) for at, cid in self._due if at > now]
                if now - last_rescan >= RESCAN_EVERY_S:
                    due |= set(self._containers)
                    last_rescan = now
                targets = [(cid, self._containers[cid]) for cid in due if cid in self._containers]
            for cid, root in targets:
                try:
                    self._inspect(cid, root)
                except Exception: # a process vanishing mid-read is normal; count, go on
                    self._stats.errors += 1

    def _inspect(self, container_id: str, root: int) -> None:
        now = uptime(self.proc)
        root_stat = read_stat(root, self.proc)
        init = root_stat is not None and root_stat[2] in INITS
        stats = {pid: read_stat(pid, self.proc) for pid in descendants(root, self.proc)}
        # The entrypoint an init runs is its oldest child: orphans it adopts later (a `nohup ... &`
        # from an exec session) are children too, but they never held the container's output.
        children = [(stat[1], pid) for pid, stat in stats.items() if stat is not None and stat[0] == root]
        entrypoint = min(children)[1] if init and children else None
        streams = log_streams(root, root_stat[0] if root_stat else None, init, self.proc)
        for pid, stat in stats.items():
            if stat is None:
                continue
            parent, started, comm = stat
            holds_output = pid in (root, entrypoint)
            stdout, stderr = fd_target(pid, 1, self.proc), fd_target(pid, 2, self.proc)
            # The output holders are reported whenever their output leaves the log; any other process
            # only when it discards (its own output never was the container's log). The kinds read the
            # mount table, so a process that cannot be reported is not classified at all.
            discards = stdout in DISCARDING_TARGETS or stderr in DISCARDING_TARGETS
            if not (discards or holds_output):
                continue
            kinds = (target_kind(pid, stdout, streams, self.proc), target_kind(pid, stderr, streams, self.proc))
            if not (discards or kinds != ("log", "log")):
                continue
            age = now - started
            key = (pid, started, stdout, stderr)
            if age < SETTLED_S or key in self._reported:
                continue
            self._reported.add(key)
            event = stdio_event(container_id, pid, parent, comm, age, stdout, stderr, self._cmdline(pid),
                                holds_output, holds_output and keeps_stream(pid, streams, self.proc), kinds)
            self.send(event)

    def _cmdline(self, pid: int) -> str:
        try:
            with open(f"{self.proc}/{pid}/cmdline", "rb") as handle:
                return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return ""

