"""What each service cost: CPU seconds and memory from the containers' own cgroup files (the same
counters the resource sensor reads), sampled when the watch starts and when it ends.

Why the harness measures at all: the fleet runs beside the scenarios on two shared cores, so its
steady cost is part of what a soak reports. Never used to judge anything.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from detectors.sensors.containers import cgroup_dirs


@dataclass(frozen=True, slots=True)
class Sample:
    cpu_s: float  # cumulative CPU time of the container's cgroup
    memory_bytes: int  # in use now (page cache included, as the kernel counts it)


def _read(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None


def parse_cpu_stat(text: str) -> float | None:
    """cgroup v2 ``cpu.stat``: usage_usec, in seconds."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            with contextlib.suppress(ValueError):
                return int(value) / 1e6
    return None


def sample(container_id: str, pid: int) -> Sample | None:
    """None when the container's cgroup is gone (it stopped) or cannot be read."""
    dirs = cgroup_dirs(container_id, pid)
    if "v2" in dirs:
        cpu_text, memory_text = _read(f"{dirs['v2']}/cpu.stat"), _read(f"{dirs['v2']}/memory.current")
        cpu = parse_cpu_stat(cpu_text) if cpu_text else None
    else:
        usage, memory_text = _read(f"{dirs['cpu']}/cpuacct.usage"), _read(f"{dirs['memory']}/memory.usage_in_bytes")
        cpu = int(usage) / 1e9 if usage and usage.strip().isdigit() else None
    if cpu is None or not memory_text or not memory_text.strip().isdigit():
        return None
    return Sample(cpu_s=cpu, memory_bytes=int(memory_text))


def describe(before: Sample | None, after: Sample | None, seconds: float) -> str:
    """One line for the service's checks: CPU over the watch and memory at its end."""
    if before is None or after is None or seconds <= 0:
        return "resources: not measured (a container's cgroup could not be read)"
    cpu = max(0.0, after.cpu_s - before.cpu_s)
    return (f"resources: {cpu:.1f} CPU-s over {seconds:.0f} s ({100 * cpu / seconds:.1f}% of a core), "
            f"{after.memory_bytes / 2**20:.0f} MiB in use at the end")
