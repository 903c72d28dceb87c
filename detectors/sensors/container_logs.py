"""Container log files on the engine host, and how they change: rotation-aware.

The generic FIM sensor reports a log file that is renamed away as deleted. For a container log
that is wrong in the common case: the json-file and local drivers rotate by closing the file,
renaming ``<id>-json.log`` to ``<id>-json.log.1`` in the same directory and opening a new one.
inotify reports that as MOVED_FROM and MOVED_TO with one cookie. This sensor pairs the two and
reports ``rotated``; it reports ``deleted`` only for an unlink (IN_DELETE) or a move out of the
directory (moby 20.10 does that even with max-file=1, to ``.1``), and ``truncated`` when the file
shrinks in place (``truncate``, ``: > file``).

Sizes are read when an inotify event is processed, after the fact. A log that rotates fast (a 1 KB
max-size, or a chatty container) hands the freed inode of the old ``.1`` to its next file, so a new
small file can look like the old one shrunk. A shrink within ``ROTATION_SETTLE_S`` of a rotation of
the same log (seen in the same read or before) is taken as the rotation's, not judged. A busy inotify
queue can also hand over the write that shows the new file before the rename that made it (the two
land in different reads): so a shrink is held for ``SUSPECT_WAIT_S`` and dropped if a rotation of the
same log arrives meanwhile; only then is it reported as a truncation.

It learns each log path from the docker sensor's ``start`` events (``observe``), and says which
container a file belongs to, so that an analytic can tell a log removed with its container from
a log removed under a running one.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import ClassVar

from detectors.event import Event, new_event
from detectors.sensors import inotify as ino
from detectors.sensors.base import ThreadedSensor

ROTATION_SETTLE_S = 2.0
SUSPECT_WAIT_S = 1.0  # how long a shrink waits for a rotation of the same log read after it
MASK = ino.IN_MODIFY | ino.IN_MOVED_FROM | ino.IN_MOVED_TO | ino.IN_CREATE | ino.IN_DELETE


def log_event(action: str, path: str, container_id: str, size: int | None, previous: int | None,
              target: str | None = None) -> Event:
    event = new_event("docker", "docker.container_logs", action)
    event["event.category"] = "file_change"
    event["file.path"] = path
    event["file.name"] = os.path.basename(path)
    event["file.role"] = "container-log"
    event["container.id"] = container_id
    if size is not None:
        event["file.size"] = size
    if previous is not None:
        event["file.previous.size"] = previous
    if target is not None:
        event["file.target.path"] = target
    return event


class ContainerLogSensor(ThreadedSensor):
    name: ClassVar[str] = "container-logs"
    reports_overflows: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self._watcher: ino.Watcher | None = None
        self._logs: dict[str, str] = {}  # log path -> container id
        self._sizes: dict[str, int] = {}
        self._inodes: dict[str, int] = {}  # a rotation gives the path a new inode; a truncation keeps it
        self._rotated_at: dict[str, float] = {}  # log path -> when a rename or create of it was last seen
        self._suspects: dict[str, tuple[float, Event]] = {}  # log path -> (report after, its truncation)
        self._lock = threading.Lock()

    def open(self) -> None:
        self._watcher = ino.Watcher(self._stats)

    def observe(self, event: Event) -> None:
        path = event.get("container.log_path")
        # The engine's start event on a host; the node agent's (containerd's task started) on a node.
        starts = event.get("event.module") == "docker" or event.get("event.dataset") == "containerd.task"
        if starts and event.get("event.action") == "start" and path:
            self.follow(str(path), str(event.get("container.id") or ""))

    def follow(self, path: str, container_id: str) -> None:
        if self._watcher is None:
            return
        directory = os.path.dirname(path)
        with self._lock:
            if path in self._logs:
                return
            try:
                self._watcher.add(directory, MASK)
            except OSError:
                self._stats.errors += 1
                return
            self._logs[path] = container_id
            self._sizes[path], self._inodes[path] = self._size(path), self._inode(path)

    @staticmethod
    def _inode(path: str) -> int:
        try:
            return os.stat(path).st_ino
        except OSError:
            return -1

    def _rotated_to(self, path: str) -> str | None:
        inode = self._inodes.get(path)
        if not inode or inode < 0:
            return None
        directory, name = os.path.split(path)
        with contextlib.suppress(OSError):
            for sibling in os.listdir(directory):
                if sibling.startswith(name + ".") and self._inode(os.path.join(directory, sibling)) == inode:
                    return os.path.join(directory, sibling)
        return None

    @staticmethod
    def _size(path: str) -> int:
        try:
            return os.path.getsize(path)
        except OSError:
            return -1

    def run(self) -> None:
        assert self._watcher is not None
        for batch in self._watcher.batches(self._stop):
            self._note_rotations(batch)
            for change in batch:
                with contextlib.suppress(Exception):
                    self._changed(change.path, change.mask, change.moved_to)
            self._report_suspects(time.monotonic())

    def _report_suspects(self, now: float, everything: bool = False) -> None:
        """Shrinks no rotation explained within their wait are truncations."""
        with self._lock:
            due = [p for p, (at, _) in self._suspects.items() if everything or at <= now]
            events = [self._suspects.pop(p)[1] for p in due]
        for event in events:
            self.send(event)

    def _note_rotations(self, batch: list[ino.Change]) -> None:
        """Stamp every log this read renames or recreates before judging any of its writes: a write
        queued before a rotation is read back after it."""
        now = time.monotonic()
        for change in batch:
            if change.mask & (ino.IN_MOVED_FROM | ino.IN_CREATE) and change.path in self._logs:
                self._rotated_at[change.path] = now
                with self._lock:
                    self._suspects.pop(change.path, None)  # the shrink held for it was this rotation's

    def _changed(self, path: str, mask: int, moved_to: str | None) -> None:
        """``moved_to``: for a MOVED_FROM, where its MOVED_TO half (same read) put the file."""
        with self._lock:
            container_id = self._logs.get(path)
            if container_id is None:
                return
            before = self._sizes.get(path, -1)
            target = None
            if mask & ino.IN_DELETE:
                action, after = "deleted", None
            elif mask & ino.IN_MOVED_FROM:
                target = moved_to
                # A rename to <name>.<n> in the same directory is the driver's rotation.
                rotated = target is not None and os.path.dirname(target) == os.path.dirname(path) and \
                    os.path.basename(target).startswith(os.path.basename(path) + ".")
                if not rotated:
                    # The rename's two halves can arrive in different reads of a busy inotify queue:
                    # ask the filesystem instead, is our old file now one of <name>.<n>?
                    target = self._rotated_to(path) or target
                    rotated = target is not None and target != path and os.path.dirname(target) == \
                        os.path.dirname(path)
                action, after = ("rotated" if rotated else "deleted"), None
            elif mask & ino.IN_CREATE:
                self._sizes[path], self._inodes[path] = self._size(path), self._inode(path)
                return  # the driver opening its next file after a rotation: nothing to judge
            else:
                # Events are read after the fact: a write queued before a rotation is processed
                # when the path already names the new, small file. Same inode or it is not ours.
                inode, after = self._inode(path), self._size(path)
                same_file = inode == self._inodes.get(path)
                self._sizes[path], self._inodes[path] = after, inode
                if not same_file or before < 0 or after < 0 or after >= before:
                    return  # a log growing is a log working; a vanished file is reported by its unlink or move
                if time.monotonic() - self._rotated_at.get(path, float("-inf")) < ROTATION_SETTLE_S:
                    return  # the rotation's new file on a recycled inode, not a truncation
                event = log_event("truncated", path, container_id, after, before, None)
                self._suspects[path] = (time.monotonic() + SUSPECT_WAIT_S, event)
                return
            if after is None:
                self._sizes[path] = -1
        self.send(log_event(action, path, container_id, after, before if before >= 0 else None, target))

    def close(self) -> None:
        self._report_suspects(time.monotonic(), everything=True)  # held shrinks no rotation explained
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
