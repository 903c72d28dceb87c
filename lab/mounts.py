"""Mounts the lab's own tools leave under lab-owned paths, and detaching them.

debootstrap mounts ``proc`` and ``sys`` in the root filesystem it builds and unmounts them in an exit
trap that a killed build never runs; dockerd leaves its network namespaces bind-mounted under its
exec root when it stops. Both are under paths the lab owns; nothing else is ever detached.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from pathlib import Path

_OCTAL = re.compile(r"\\([0-7]{3})")


def mounts_under(path: Path, mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Mount points at or below ``path``, deepest first (octal escapes of the mount table undone)."""
    prefix = str(path.resolve()).rstrip("/")
    found = []
    with contextlib.suppress(OSError), open(mountinfo) as info:
        for line in info:
            fields = line.split()
            if len(fields) > 4:
                point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
                if point == prefix or point.startswith(prefix + "/"):
                    found.append(point)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def detach_under(path: Path, mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Lazily unmount everything at or below ``path``, deepest first; return what is still mounted."""
    for point in mounts_under(path, mountinfo):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    return mounts_under(path, mountinfo)
