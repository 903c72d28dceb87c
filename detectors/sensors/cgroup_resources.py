"""Resource use of every container, read straight from its cgroup files once a second.

Why not the engine's stats API: it is one streaming HTTP request per container, and each answer
costs the engine a cgroup walk plus JSON; at 500 containers that is a core of work. The kernel's
own counters are two small files per container: ``cpuacct.usage`` (nanoseconds of CPU, cumulative)
and ``memory.usage_in_bytes`` on cgroup v1; ``cpu.stat`` (usage_usec) and ``memory.current`` on
v2. The file descriptors stay open and are re-read with ``pread`` at offset 0, so a sample is two
syscalls per container and no path lookups.

CPU is reported as cores used over the last interval (delta CPU time / delta wall time), memory as
bytes in use now plus the peak the kernel recorded. Containers come from a listing at start and
then from the docker events stream (``observe``): no per-sample engine traffic at all.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from detectors.event import new_event
from detectors.sensors.base import Emit, ThreadedSensor
from detectors.sensors.containers import ContainerDirectory, ContainerInfo, cgroup_dirs

INTERVAL_S = 1.0


@dataclass(slots=True)
class _Tracked:
    info: ContainerInfo
    cpu_fd: int
    mem_fd: int
    peak_fd: int  # -1 when the kernel keeps no peak
    limit_fd: int
    v2: bool
    last_cpu_ns: int = -1
    last_at: float = 0.0


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


def _read_int(fd: int) -> int:
    if fd < 0:
        return -1
    try:
        text = os.pread(fd, 64, 0).split(maxsplit=1)[0]
    except (OSError, IndexError):
        return -1
    if text == b"max":
        return -1
    try:
        return int(text)
    except ValueError:
        return -1


def _v2_cpu_ns(fd: int) -> int:
    try:
        for line in os.pread(fd, 512, 0).splitlines():
            if line.startswith(b"usage_usec "):
                return int(line.split()[1]) * 1000
    except OSError:
        pass
    return -1


class CgroupResourcesSensor(ThreadedSensor):
    name: ClassVar[str] = "cgroup-resources"

    def __init__(self, directory: ContainerDirectory, interval_s: float = INTERVAL_S) -> None:
        super().__init__(extra_stats=("containers", "sample_us"))
        self.directory = directory
        self.interval_s = interval_s
        self._tracked: dict[str, _Tracked] = {}
        self._lock = threading.Lock()

    @property
    def stats(self) -> dict[str, int]:
        with self._lock:
            self._stats.extra["containers"] = len(self._tracked)
        return super().stats

    def open(self) -> None:
        self.directory.listen(self._on_container)

    def observe(self, event: dict[str, Any]) -> None:
        self.directory.observe(event)

    def _on_container(self, container_id: str, info: ContainerInfo | None) -> None:
        try:
            if info is None:
                self._untrack(container_id)
            else:
                self._track(info)
        except Exception:  # called from another sensor's thread: count it, never raise into it
            self._stats.errors += 1

    def _track(self, info: ContainerInfo) -> None:
        dirs = cgroup_dirs(info.id, info.pid, info.cgroup_root)
        if "v2" not in dirs and not ("cpu" in dirs and "memory" in dirs):
            self._stats.errors += 1  # no cgroup (the container died between listing and now)
            return
        if "v2" in dirs:
            base = dirs["v2"]
            tracked = _Tracked(info, _open(f"{base}/cpu.stat"), _open(f"{base}/memory.current"),
                               _open(f"{base}/memory.peak"), _open(f"{base}/memory.max"), v2=True)
        else:
            cpu, mem = dirs["cpu"], dirs["memory"]
            tracked = _Tracked(info, _open(f"{cpu}/cpuacct.usage"), _open(f"{mem}/memory.usage_in_bytes"),
                               _open(f"{mem}/memory.max_usage_in_bytes"), _open(f"{mem}/memory.limit_in_bytes"),
                               v2=False)
        if tracked.cpu_fd < 0 or tracked.mem_fd < 0:
            self._stats.errors += 1  # no cgroup (the container died already): nothing to sample
            self._close(tracked)
            return
        with self._lock:
            old = self._tracked.pop(info.id, None)
            self._tracked[info.id] = tracked
        if old is not None:
            self._close(old)

    def _untrack(self, container_id: str) -> None:
        with self._lock:
            tracked = self._tracked.pop(container_id, None)
        if tracked is not None:
            self._close(tracked)

    @staticmethod
    def _close(tracked: _Tracked) -> None:
        for fd in (tracked.cpu_fd, tracked.mem_fd, tracked.peak_fd, tracked.limit_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def run(self) -> None:
        # Containers come and go under our feet (other runs share the engine): one that vanished, or
        # a cgroup file that reads oddly, is counted, and the sampling goes on. A dead sampler would
        # blind every resource detector for the rest of the run.
        for info in self.directory.load_running():
            try:
                self._track(info)
            except Exception:  # counted, never fatal
                self._stats.errors += 1
        next_at = time.monotonic()
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self.sample(self.send)
            except Exception:  # counted, never fatal
                self._stats.errors += 1
            self._stats.extra["sample_us"] = int((time.perf_counter() - started) * 1e6)
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay < 0:  # we fell behind (a loaded host): skip ahead instead of bursting
                next_at = time.monotonic()
                delay = 0
            self._stop.wait(delay)

    def sample(self, emit: Emit) -> None:
        with self._lock:
            tracked = list(self._tracked.values())
        now = time.time()
        for item in tracked:
            cpu_ns = _v2_cpu_ns(item.cpu_fd) if item.v2 else _read_int(item.cpu_fd)
            memory = _read_int(item.mem_fd)
            if cpu_ns < 0 or memory < 0:
                self._stats.dropped += 1
                continue
            previous, previous_at = item.last_cpu_ns, item.last_at
            item.last_cpu_ns, item.last_at = cpu_ns, now
            if previous < 0 or now <= previous_at:
                continue  # the first read only sets the starting point of the rate
            cores = max(0.0, (cpu_ns - previous) / 1e9 / (now - previous_at))
            event = new_event("linux", "linux.resources", "sample", created=now, **{})
            event["event.category"] = "host"
            event.update(item.info.fields())
            event["container.cpu.cores"] = round(cores, 4)
            event["container.memory.usage_bytes"] = memory
            peak = _read_int(item.peak_fd)
            if peak >= 0:
                event["container.memory.max_usage_bytes"] = peak
            limit = _read_int(item.limit_fd)
            if 0 <= limit < 1 << 60:  # v1 reports "no limit" as a huge number
                event["container.memory.limit_bytes"] = limit
            emit(event)

    def close(self) -> None:
        with self._lock:
            tracked, self._tracked = list(self._tracked.values()), {}
        for item in tracked:
            self._close(item)
