"""pid -> container, kept from the kernel's own process lifecycle events rather than from /proc.

A process that exits microseconds after exec is gone before /proc/<pid>/cgroup can be read, but
the kernel told us where it came from before it ran: ``sched_process_fork`` (parent -> child) came
first, and a forked child is in its parent's cgroup unless something moves it. What moves tasks
into a container is the runtime: runc forks its init from a host process (runc, under
containerd-shim) and writes it into the container's cgroup before the init execs the container's
program. That write is ``cgroup_attach_task`` (with the destination path, which names the
container), so the map learns the container's first process from the kernel as well; reading
/proc at exec stays only as the fallback for what the stream could not say.

Only container tasks are kept (host tasks are the absence of an entry), keyed by kernel task id
(fork and exit events name threads too). Memory stays bounded: ``sched_process_exit`` evicts a
task, a fork onto a pid that is still in the map (its exit was lost) overwrites it, and a hard cap
evicts the oldest entries when the stream lost exits wholesale.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from detectors.sensors.attribution import Attribution, parse_cgroup_path

DEFAULT_CAP = 1 << 17  # above any pid_max a lab host uses for live container tasks; 128k small tuples


class PidMap:
    """Thread-safe: the sensor thread feeds it from the trace stream, the container directory's
    listener seeds and forgets whole containers from the monitor's thread."""

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        self.cap = cap
        # pid -> (attribution, parent pid); dict order is insertion order, the oldest come first.
        self._map: dict[int, tuple[Attribution, int]] = {}
        self._lock = threading.Lock()
        self.evicted_by_cap = 0

    def __len__(self) -> int:
        return len(self._map)

    def _put(self, pid: int, attribution: Attribution, ppid: int) -> None:
        self._map.pop(pid, None)  # re-insert: a refreshed entry is the newest
        self._map[pid] = (attribution, ppid)
        while len(self._map) > self.cap:
            del self._map[next(iter(self._map))]
            self.evicted_by_cap += 1

    def fork(self, parent: int, child: int) -> None:
        with self._lock:
            entry = self._map.get(parent)
            if entry is not None:
                self._put(child, entry[0], parent)
            else:
                # A host task forked: if the child's pid is still mapped, that entry outlived its
                # process (the exit was lost) and would now misattribute a host task.
                self._map.pop(child, None)

    def exit(self, pid: int) -> None:
        with self._lock:
            self._map.pop(pid, None)

    def attach(self, pid: int, attribution: Attribution | None) -> None:
        """A task was written into a cgroup: the kernel's word on where it now is."""
        with self._lock:
            if attribution is None:
                self._map.pop(pid, None)
            else:
                ppid = self._map[pid][1] if pid in self._map else 0
                self._put(pid, attribution, ppid)

    def remember(self, pid: int, attribution: Attribution, ppid: int = 0) -> None:
        with self._lock:
            self._put(pid, attribution, ppid)

    def lookup(self, pid: int, old_pid: int = 0) -> tuple[Attribution, int] | None:
        """(attribution, parent pid) for an exec. ``old_pid`` differs from ``pid`` when a thread
        other than the leader exec'd: it took over the leader's pid, whose exit came first."""
        with self._lock:
            entry = self._map.get(pid)
            if entry is None and old_pid and old_pid != pid:
                entry = self._map.get(old_pid)
            return entry

    def seed(self, pids: Iterable[int], attribution: Attribution) -> int:
        count = 0
        with self._lock:
            for pid in pids:
                if pid not in self._map:
                    self._put(pid, attribution, 0)
                    count += 1
        return count

    def clear(self) -> None:
        with self._lock:
            self._map.clear()


def cgroup_tasks(container_dir: str, hierarchy_root: str, tasks_file: str) -> Iterable[tuple[Attribution, list[int]]]:
    """Every task under a container's cgroup directory, grouped by the (possibly nested) cgroup
    it sits in: the path relative to the hierarchy's root names the container(s), as in
    /proc/<pid>/cgroup. ``tasks_file`` is ``cgroup.threads`` on v2 and ``tasks`` on v1: thread ids,
    because fork events name the forking thread."""
    for directory, _, _ in os.walk(container_dir):
        attribution = parse_cgroup_path(directory[len(hierarchy_root):])
        if attribution is None:
            continue
        try:
            with open(os.path.join(directory, tasks_file), "rb") as handle:
                raw = handle.read()
        except OSError:
            continue  # the cgroup went while we walked
        yield attribution, [int(t) for t in raw.split()]
