"""A minimal inotify binding over ctypes: no compiled dependency, and nothing the stdlib lacks.

``Inotify`` is the binding; ``Watcher`` is the read loop the sensors share: directory watches by
path, overflows counted, and each read handed over whole, with a rename's two halves paired.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from detectors.sensors.base import SensorStats

IN_ACCESS = 0x001
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

WATCH_MASK = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | \
    IN_DELETE_SELF | IN_MOVE_SELF

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_HEADER = struct.Struct("iIII")


class Inotify:
    def __init__(self) -> None:
        fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.fd = fd

    def add(self, path: str, mask: int = WATCH_MASK) -> int:
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_add_watch({path}): {os.strerror(err)}")
        return wd

    def remove(self, wd: int) -> None:
        _libc.inotify_rm_watch(self.fd, wd)

    def read(self) -> Iterator[tuple[int, int, int, str]]:
        """Yield (wd, mask, cookie, name) for what is pending; nothing when the queue is empty. The
        cookie pairs a rename's MOVED_FROM with its MOVED_TO."""
        try:
            data = os.read(self.fd, 64 * 1024)
        except BlockingIOError:
            return
        offset = 0
        while offset + _HEADER.size <= len(data):
            wd, mask, cookie, length = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size
            name = data[offset:offset + length].split(b"\0", 1)[0].decode(errors="replace")
            offset += length
            yield wd, mask, cookie, name

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass(frozen=True, slots=True)
class Change:
    """One inotify event about a name in a watched directory."""

    directory: str
    name: str
    mask: int
    cookie: int = 0
    # For a MOVED_FROM whose MOVED_TO came in the same read: where the file went. None when the
    # other half is in a later read, or outside every watched directory.
    moved_to: str | None = None

    @property
    def path(self) -> str:
        return os.path.join(self.directory, self.name)


class Watcher:
    """Watches on directories, read in batches until a stop Event is set.

    A batch is everything one read returned, handed over whole: a sensor may need to look at all
    of it before it judges any one change (a write queued before a rename is read back after it).
    Events about the watched directory itself (no name) and about unknown watches are left out;
    an overflow is counted in ``stats.overflows`` and left out too.
    """

    def __init__(self, stats: SensorStats | None = None) -> None:
        self._notify = Inotify()
        self._dirs: dict[int, str] = {}  # wd -> directory
        self.stats = stats if stats is not None else SensorStats()

    def add(self, directory: str, mask: int = WATCH_MASK) -> int:
        """Watch a directory (again: the kernel gives the same wd). Raises OSError."""
        wd = self._notify.add(directory, mask)
        self._dirs[wd] = directory
        return wd

    def read(self) -> list[Change]:
        """What is pending now, in kernel order; an empty list when nothing is."""
        raw = list(self._notify.read())
        arrived = {cookie: (wd, name) for wd, mask, cookie, name in raw if mask & IN_MOVED_TO and cookie}
        batch = []
        for wd, mask, cookie, name in raw:
            if mask & IN_Q_OVERFLOW:
                self.stats.overflows += 1
                continue
            directory = self._dirs.get(wd)
            if directory is None or not name:
                continue
            moved_to = None
            if mask & IN_MOVED_FROM and cookie in arrived:
                to_wd, to_name = arrived[cookie]
                to_dir = self._dirs.get(to_wd)
                moved_to = os.path.join(to_dir, to_name) if to_dir is not None else None
            batch.append(Change(directory, name, mask, cookie, moved_to))
        return batch

    def batches(self, stop: threading.Event, timeout: float = 0.2) -> Iterator[list[Change]]:
        """One batch per read until ``stop`` is set, and an empty one each ``timeout`` without
        events, so the caller's periodic work (watches asked for by others) still runs."""
        while not stop.is_set() and self._notify.fd >= 0:
            ready, _, _ = select.select([self._notify.fd], [], [], timeout)
            yield self.read() if ready else []

    def close(self) -> None:
        self._notify.close()
