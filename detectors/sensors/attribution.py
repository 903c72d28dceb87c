"""pid -> cgroup -> container: which container a host process belongs to.

Docker puts each container in cgroups whose path ends in the container id, on cgroup v1
(``/docker/<id>``) and v2 (``/system.slice/docker-<id>.scope``) alike. Nested runtimes (a kind
node is a container running containers) give several ids; the innermost is the workload and the
outermost is what the host engine knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")


@dataclass(frozen=True, slots=True)
class Attribution:
    container_id: str  # the outermost id: the container the lab's engine runs
    inner_ids: tuple[str, ...] = ()  # ids nested inside it (pods in a kind node), innermost last

    @property
    def workload_id(self) -> str:
        """The container the process really runs in: a pod's container inside a kind node, or the
        engine's own container when nothing is nested."""
        return self.inner_ids[-1] if self.inner_ids else self.container_id


def parse_cgroup_path(path: str) -> Attribution | None:
    """One cgroup path (``/docker/<id>``, ``/system.slice/docker-<id>.scope``, or a kind node's
    nested ``/docker/<node>/kubelet.slice/.../cri-containerd-<id>.scope``). None for host cgroups."""
    ids = _CONTAINER_ID.findall(path)
    if not ids:
        return None
    return Attribution(container_id=ids[0], inner_ids=tuple(ids[1:]))


def parse_cgroup(text: str) -> Attribution | None:
    """Parse /proc/<pid>/cgroup text. Returns None for host processes."""
    best: list[str] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        ids = _CONTAINER_ID.findall(parts[2])
        if len(ids) > len(best):
            best = ids
    if not best:
        return None
    return Attribution(container_id=best[0], inner_ids=tuple(best[1:]))


def attribute_pid(pid: int, proc: str = "/proc") -> Attribution | None:
    try:
        with open(f"{proc}/{pid}/cgroup") as handle:
            return parse_cgroup(handle.read())
    except OSError:
        return None  # the process is gone already; callers count it as unattributed
