"""Process exec events from the kernel's ``sched/sched_process_exec`` tracepoint, through tracefs.

The sensor owns a tracefs instance of its own (``instances/stowaway-<run id>-exec``): its own ring
buffer and event switches, so it never disturbs the host's global trace or another sensor's
instance. The instance is removed on ``stop`` and on any failure after it was made; the lab's
reaper removes those of dead runs.

Each exec is attributed to a container even when the process is gone before /proc can be read
(``true``, a burst of thousands of execs a second): the same instance also traces
``sched_process_fork`` (a child inherits its parent's container), ``sched_process_exit`` (evicts
the task) and ``cgroup/cgroup_attach_task`` (the runtime writing its init into the container's
cgroup, whose path names the container), which keep a pid -> container map (pidmap.py), seeded at
start and for each container that appears from the container cgroups' task lists.

While the process is still there, /proc/<pid>/cgroup is read and wins over the map: it is the
truth now, and it covers what the stream cannot say (runc exec on cgroup v2 clones straight into
the container's cgroup with CLONE_INTO_CGROUP: no attach event, and the child is not in its
parent's cgroup; a process whose start was lost). Its answer is remembered for the descendants.
Once the process is gone, the map answers. "Still there" is checked, not assumed: the instance
runs on the boot clock, so a /proc entry whose start time is after the exec belongs to a process
that reused the pid (pid_max is 32768 on small hosts: a burst wraps it in seconds), and an exec
whose exit is in the same read is not looked up at all.

Host processes are counted and dropped. Container processes are enriched from /proc
(procfs.process_fields): executable and its deleted state, argv, comm, parent, and whether the
executable sits in the container's changes rather than its image. A process that exits before we
read /proc keeps what the tracepoint gave (its path, and its parent from the fork event) and says
so (``process.exited_before_inspection``); its argv is unknown and absent. The same holds for a
process that exec'd again within the same read of the stream (an entrypoint script that ends in
``exec "$@"``): its /proc entry already describes the next program, so its own executable, argv and
comm are not read (``process.replaced_before_inspection``), and the next exec's event carries them.
A process that exec'd again after the read but before /proc was looked at still lends it the later
program's argv: the stream cannot say, and the later exec has an event of its own.

No event filter narrows the stream: "a task in a container cgroup" is not expressible in a
tracefs filter, and the fields that are (``comm``, ``filename``) are chosen by whoever runs the
program, so filtering on them would hand an adversary an off switch. The cost is kept down
instead by parsing each line with one anchored regex and reading /proc only for container execs.

Lines are parsed defensively: the fields an adversary controls (``filename``, ``comm``) are
matched from the kernel-written end of the record, checked against the task that wrote it (the
line prefix's pid), and a filename with newlines in it is joined back into its record instead of
being read as lines of its own.

Losses are reported, not hidden: ``overrun`` and ``lost`` in ``stats`` come from the instance's
per-CPU ring buffer statistics, read at every pass of the loop and on stop.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event, new_event
from detectors.sensors.attribution import parse_cgroup, parse_cgroup_path
from detectors.sensors.base import Emit, ThreadedSensor
from detectors.sensors.containers import CGROUP_ROOT, ContainerDirectory, ContainerInfo, cgroup_dirs
from detectors.sensors.pidmap import PidMap, cgroup_tasks
from detectors.sensors.procfs import process_fields, start_time
from detectors.sensors.tracefs import TRACEFS, TracefsUnavailable, TraceInstance
from lab.naming import tracefs_instance

USER_HZ = os.sysconf("SC_CLK_TCK")  # the unit of /proc/<pid>/stat's start time
BUFFER_KB_PER_CPU = 8192  # ~100k exec records per CPU: absorbs a burst of thousands of execs a second
EVENTS = ("sched/sched_process_exec", "sched/sched_process_fork", "sched/sched_process_exit",
          "cgroup/cgroup_attach_task")
_TAG = re.compile(rb": (sched_process_exec|sched_process_fork|sched_process_exit|cgroup_attach_task): ")
# "<comm>-<pid> [<cpu>] <flags> <timestamp>" right before the tag: anchored there, a comm (<= 15
# bytes, chosen by the process) cannot pass for it.
_PREFIX = re.compile(rb"-(\d+)\s+\[\d+\]\s+(?:\S+\s+)?(\d+\.\d+)$")
_EXEC = re.compile(rb"filename=(.*) pid=(\d+) old_pid=(\d+)$", re.S)
_FORK = re.compile(rb"comm=.* pid=(\d+) child_comm=.* child_pid=(\d+)$", re.S)
_EXIT = re.compile(rb"comm=.* pid=(\d+) prio=-?\d+ group_dead=(?:true|false)$", re.S)
_ATTACH = re.compile(rb"dst_path=(\S*) pid=(\d+) comm=")
_MAX_RECORD = 8192  # a filename is at most PATH_MAX; a record joined beyond this is given up

# Parsed records: ("exec", pid, old_pid, filename, timestamp) | ("fork", parent, child) | ("exit", pid)
# | ("attach", pid, cgroup path)
Record = tuple[Any, ...]


def _body(kind: bytes, body: bytes, task: int | None, stamp: float = 0.0) -> Record | None:
    """One event's fields. ``task`` is the pid of the line's prefix (the task the event ran in):
    exec, fork and exit run in the task they name, so a field that disagrees is forged text."""
    if kind == b"sched_process_exec":
        match = _EXEC.search(body)
        if match is None or (task is not None and int(match.group(2)) != task):
            return None
        return ("exec", int(match.group(2)), int(match.group(3)), match.group(1).decode(errors="replace"), stamp)
    if kind == b"sched_process_fork":
        match = _FORK.search(body)
        if match is None or (task is not None and int(match.group(1)) != task):
            return None
        return ("fork", int(match.group(1)), int(match.group(2)))
    if kind == b"sched_process_exit":
        match = _EXIT.search(body)
        if match is None or (task is not None and int(match.group(1)) != task):
            return None
        return ("exit", int(match.group(1)))
    match = _ATTACH.search(body)  # written by the runtime, about another task: no task check
    if match is None:
        return None
    return ("attach", int(match.group(2)), match.group(1).decode(errors="replace"))


class TraceParser:
    """trace_pipe lines -> records. Stateful: a record whose filename or comm held newlines spans
    several lines, and is joined back until its kernel-written tail parses."""

    def __init__(self) -> None:
        self._kind = b""
        self._task: int | None = None
        self._stamp = 0.0
        self._partial = b""
        self.lost = 0  # "CPU:n [LOST k EVENTS]": the ring buffer wrapped
        self.malformed = 0

    def feed(self, line: bytes) -> Record | None:
        if self._partial:
            self._partial += b"\n" + line
            record = _body(self._kind, self._partial, self._task, self._stamp)
            if record is not None or len(self._partial) > _MAX_RECORD:
                self.malformed += record is None
                self._partial = b""
            return record
        tag = _TAG.search(line)
        if tag is None:
            if b"LOST" in line:
                with contextlib.suppress(ValueError, IndexError):
                    self.lost += int(line.split(b"LOST", 1)[1].split()[0])
            return None
        prefix = _PREFIX.search(line, 0, tag.start())
        task = int(prefix.group(1)) if prefix else None
        stamp = float(prefix.group(2)) if prefix else 0.0
        body = line[tag.end():]
        record = _body(tag.group(1), body, task, stamp)
        if record is None:
            self._kind, self._task, self._stamp, self._partial = tag.group(1), task, stamp, body
        return record


def parse_line(line: bytes) -> tuple[str, int] | None:
    """(filename, pid) from one exec line of trace_pipe, or None for anything else."""
    record = TraceParser().feed(line)
    if record is None or record[0] != "exec":
        return None
    return record[3], record[1]


def _read_cgroup(pid: int, proc: str) -> str | None:
    try:
        with open(f"{proc}/{pid}/cgroup") as handle:
            return handle.read()
    except OSError:
        return None


def exits_ahead(records: list[Record]) -> list[bool]:
    """For each record: is it an exec whose process exits later in the same batch?"""
    gone: set[int] = set()
    out = [False] * len(records)
    for i in range(len(records) - 1, -1, -1):
        record = records[i]
        if record[0] == "exit":
            gone.add(record[1])
        elif record[0] == "exec":
            out[i] = record[1] in gone
    return out


def replaced_ahead(records: list[Record]) -> list[bool]:
    """For each record: is it an exec whose process execs again later in the same batch? Its /proc
    entry (executable, argv, comm) already shows the later program by the time it is read."""
    again: set[int] = set()
    out = [False] * len(records)
    for i in range(len(records) - 1, -1, -1):
        record = records[i]
        if record[0] == "exit":
            again.discard(record[1])  # a later exec of that pid is another process's
        elif record[0] == "exec":
            out[i] = record[1] in again
            again.add(record[1])
    return out


class TracefsExecSensor(ThreadedSensor):
    name: ClassVar[str] = "tracefs-exec"

    def __init__(self, directory: ContainerDirectory, run_id: str, root: Path = TRACEFS,
                 cgroup_root: str = CGROUP_ROOT) -> None:
        super().__init__(extra_stats=("host_execs", "overrun", "lost", "exited_early", "by_map", "by_proc", "forks",
                                      "exits", "attaches", "seeded", "reseeds", "malformed", "pidmap_size",
                                      "pidmap_evicted"))
        self.directory = directory
        self.instance_name = tracefs_instance(run_id, "exec")
        self.root = root
        self.cgroup_root = cgroup_root
        self.trace = TraceInstance(self.instance_name, root)
        self.pids = PidMap()
        self.parser = TraceParser()
        self._lock = threading.Lock()
        self._reseed = False
        self._boot_clock = False  # the boot clock is the one /proc/<pid>/stat's start time counts in

    @property
    def stats(self) -> dict[str, int]:
        self._read_buffer_stats()
        extra = self._stats.extra
        extra["pidmap_size"] = len(self.pids)
        extra["pidmap_evicted"] = self.pids.evicted_by_cap
        extra["malformed"] = self.parser.malformed
        return super().stats

    def open(self) -> None:
        try:
            self.trace.create(EVENTS, buffer_kb=BUFFER_KB_PER_CPU)
        except (OSError, TracefsUnavailable) as exc:
            # Sensors are optional: without tracefs (no root, a locked-down kernel) the others still
            # run, and the scorecard shows this data source missing instead of the run failing.
            self.unavailable = str(exc)
            self._stats.errors += 1
            return
        self._boot_clock = self.trace.boot_clock
        self.directory.listen(self._container_changed)

    def observe(self, event: Event) -> None:
        self.directory.observe(event)

    def _container_changed(self, container_id: str, info: ContainerInfo | None) -> None:
        # A container that appears after start: its tasks so far (the stream has the rest). Its
        # departure needs nothing: its tasks' exits evict them.
        if info is not None and not self._stop.is_set():
            with contextlib.suppress(Exception):
                self._seed(info)

    def _seed(self, info: ContainerInfo) -> None:
        """Put a container's current tasks in the map: events were enabled first, so whatever
        forks after this read is in the stream."""
        dirs = cgroup_dirs(info.id, info.pid, self.cgroup_root)
        if "v2" in dirs:
            base, hierarchy, tasks = dirs["v2"], self.cgroup_root, "cgroup.threads"
        else:
            base, hierarchy, tasks = dirs["cpu"], f"{self.cgroup_root}/cpuacct", "tasks"
        for attribution, tids in cgroup_tasks(base, hierarchy, tasks):
            self._stats.extra["seeded"] += self.pids.seed(tids, attribution)

    def _seed_all(self) -> None:
        for info in self.directory.load_running():
            try:
                self._seed(info)
            except Exception:
                self._stats.errors += 1

    def run(self) -> None:
        last_stats = time.monotonic()
        self._seed_all()
        for lines in self.trace.lines(self._stop):
            if time.monotonic() - last_stats > 5:
                self._read_buffer_stats()
                last_stats = time.monotonic()
                if self._reseed:
                    # Events were lost: exits and forks may be missing, so the map may hold
                    # tasks that are gone (and whose pids are reused). Start over from the
                    # cgroups' task lists, which are the truth now.
                    self._reseed = False
                    self._stats.extra["reseeds"] += 1
                    self.pids.clear()
                    self._seed_all()
            if lines:
                self._handle_lines(lines, self.send)

    def _handle_lines(self, lines: list[bytes], emit: Emit) -> None:
        records: list[Record] = []
        lost = self.parser.lost
        for line in lines:
            try:
                record = self.parser.feed(line)
            except Exception:  # one odd line must not end the sensor
                self._stats.errors += 1
                continue
            if record is not None:
                records.append(record)
        if self.parser.lost != lost:
            self._stats.extra["lost"] = max(self._stats.extra["lost"], self.parser.lost)
            self._reseed = True
        # In kernel order: a fork is in the map before its child's exec is attributed, and an
        # exit evicts only after the exec it follows.
        for record, gone, replaced in zip(records, exits_ahead(records), replaced_ahead(records), strict=True):
            try:
                self._handle(record, gone, emit, replaced=replaced)
            except Exception:  # a process gone mid-read must not end the sensor
                self._stats.errors += 1

    def _handle(self, record: Record, gone: bool, emit: Emit, *, replaced: bool = False) -> None:
        kind = record[0]
        if kind == "fork":
            self._stats.extra["forks"] += 1
            self.pids.fork(record[1], record[2])
        elif kind == "exit":
            self._stats.extra["exits"] += 1
            self.pids.exit(record[1])
        elif kind == "attach":
            self._stats.extra["attaches"] += 1
            self.pids.attach(record[1], parse_cgroup_path(record[2]))
        else:
            event = self.build_event(record[1], record[3], old_pid=record[2], gone=gone, stamp=record[4],
                                     replaced=replaced)
            if event is not None:
                emit(event)

    def build_event(self, pid: int, filename: str, proc: str = "/proc", *, old_pid: int = 0,
                    gone: bool = False, stamp: float = 0.0, replaced: bool = False) -> Event | None:
        """``gone``: the stream already showed the process's exit; ``replaced``: it showed the same
        process exec another program since (its /proc describes that one now)."""
        known = self.pids.lookup(pid, old_pid)
        ppid = known[1] if known is not None else 0
        if not gone and not self._same_process(pid, stamp, proc):
            gone = True  # the pid already names a process that started after this exec
        cgroup = None if gone else _read_cgroup(pid, proc)
        if cgroup is not None:
            # The process is still there: /proc is the truth. It also covers what the stream cannot
            # say: a runtime that clones straight into the container's cgroup (runc exec with
            # CLONE_INTO_CGROUP on cgroup v2: no attach event, and the child's cgroup is not its
            # parent's) and a process the stream never showed starting (lost events).
            attribution = parse_cgroup(cgroup)
            if attribution is None:
                self._stats.extra["host_execs"] += 1  # host processes are not this sensor's business
                return None
            self._stats.extra["by_proc"] += 1
            if known is None or known[0] != attribution:
                self.pids.remember(pid, attribution, ppid)  # for its descendants
        elif known is not None:
            attribution = known[0]  # gone already: the kernel's fork/attach events say where it ran
            self._stats.extra["by_map"] += 1
        else:
            self._stats.extra["host_execs"] += 1  # gone, and never seen in a container
            return None
        # A process in a pod of a kind node is nested: the node is what the engine knows, the pod's
        # container (innermost id) is what it belongs to. The node's inspect data would describe the
        # node (privileged, kind image), not the pod, so it is not attached.
        info = None if attribution.inner_ids else self.directory.get(attribution.container_id)
        event = new_event("linux", "linux.process", "exec")
        event["event.category"] = "process"
        event["event.type"] = "start"
        if info is not None:
            event.update(info.fields())
        else:
            event["container.id"] = attribution.workload_id
        if attribution.inner_ids:
            event["orchestrator.node.container_id"] = attribution.container_id
        fields: dict[str, Any] = process_fields(pid, info, filename, proc, gone=gone, ppid=ppid,
                                                replaced=replaced and not gone)
        if fields.get("process.exited_before_inspection"):
            self._stats.extra["exited_early"] += 1
        event.update(fields)
        event["process.exec_path"] = filename  # the path as given to execve, before symlinks
        return event

    def _same_process(self, pid: int, stamp: float, proc: str) -> bool:
        """Is /proc/<pid> still the process of an exec traced at ``stamp``? With the instance on the
        boot clock, a process that started after the exec has reused the pid (pid_max can be
        32768: a busy host wraps in seconds). Without it, there is nothing to compare."""
        if not self._boot_clock or not stamp:
            return True
        started = start_time(pid, proc)
        return not started or started / USER_HZ <= stamp + 1.0 / USER_HZ

    def _read_buffer_stats(self) -> None:
        if not self.trace.live:
            return  # not made yet, or removed: the last counts read stand
        overrun = lost = 0
        for stats in (self.trace.path / "per_cpu").glob("cpu*/stats"):
            with contextlib.suppress(OSError, ValueError):
                for line in stats.read_text().splitlines():
                    key, _, value = line.partition(":")
                    if key.strip() == "overrun":
                        overrun += int(value)
                    elif key.strip() == "dropped events":
                        lost += int(value)
        extra = self._stats.extra
        if overrun > extra["overrun"] or lost > extra["lost"]:
            self._reseed = True  # the map may have missed forks and exits: see run
        extra["overrun"] = overrun
        extra["lost"] = max(extra["lost"], lost)

    def close(self) -> None:
        try:
            self._read_buffer_stats()
        finally:
            with self._lock:
                if not self.trace.remove():
                    self._stats.errors += 1  # left behind: the lab's reaper removes it later
