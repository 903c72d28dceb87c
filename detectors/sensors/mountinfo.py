"""Which mount a path is on, as a process sees it: read from /proc/<pid>/mountinfo.

A container's processes share one mount table (its init's), so a path inside the container can be
placed on the container's overlay (its image plus its own changes), on a tmpfs it was given, or on a
volume or bind mount, whichever path the payload used to get there.
"""

from __future__ import annotations

OWN_FILESYSTEMS = ("overlay", "tmpfs")  # a container's writable layer and its private tmpfs mounts


def mount_of(pid: int, path: str, proc: str = "/proc") -> str:
    """The filesystem type of the mount ``path`` is on, as the process ``pid`` sees it ("" unknown)."""
    best, fstype = -1, ""
    try:
        with open(f"{proc}/{pid}/mountinfo") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return ""
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields = head.split()
        if len(fields) < 5 or not tail:
            continue
        point = fields[4]
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, fstype = len(point), tail.split()[0]
    return fstype
