"""File integrity: inotify for the moment of change, hashes for what changed.

Watches are directories (a file watch would be lost when an editor or an attacker replaces the
file by rename); a watch on a file is a watch on its parent filtered by name. At start every
watched file is hashed, so a change is reported against its baseline hash, and a write that leaves
the content as it was is not reported at all.

Two modes: ``hash`` (config files, small) and ``size`` (log files: they grow all the time, so only
shrinking, truncation and deletion matter, and hashing them on every write would cost too much).

Other sensors' events can add watches at run time through ``observe``: a container's sensitive
files, for example, are watched from the moment the engine reports the container started
(``container_fim``). Container log files and the engine's config have sensors of their own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from detectors.event import Event, new_event
from detectors.sensors import inotify as ino
from detectors.sensors.base import ThreadedSensor

HASH_LIMIT = 16 * 1024 * 1024  # files larger than this are tracked by size only
# A recursive watch may land on a real host tree (a container mounting the host's / read-write
# exposes the host's /root, with its caches). Baselining stops after this many files: the sensor
# must stay cheap, and the files an intruder plants are reported by inotify when they are written.
TREE_FILE_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Watch:
    path: str  # a file or a directory
    mode: str = "hash"  # "hash" | "size"
    recursive: bool = False
    container_id: str = ""  # set when the path belongs to one container
    role: str = "file"  # what the path is to a defender: "engine-config", "container-log", "host-file"
    # Where the watched tree sits in a container's view: ``root`` (a host directory, e.g. the
    # container's merged root or a host-mount source) is ``view`` inside it ("" for "/"). Events
    # then carry ``file.path_in_container``, which rules match on instead of host-specific paths.
    root: str = ""
    view: str = ""
    fields: tuple[tuple[str, Any], ...] = ()  # extra event fields (the container's name, image, labels)
    # Watches are added when telemetry reports a container started, a moment after it did: files
    # modified after this epoch time, before the watch existed, are reported when it is added.
    changed_since: float = 0.0


@dataclass(slots=True)
class _State:
    size: int
    sha256: str | None


def _digest(path: str) -> str | None:
    try:
        if os.path.getsize(path) > HASH_LIMIT:
            return None
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


class FimSensor(ThreadedSensor):
    name: ClassVar[str] = "fim"
    reports_overflows: ClassVar[bool] = True

    def __init__(self, watches: Iterable[Watch] = (), follow: Callable[[Event], list[Watch]] | None = None) -> None:
        super().__init__(extra_stats=("truncated_trees",))
        self._initial = list(watches)
        self._follow = follow
        self._watcher: ino.Watcher | None = None
        self._by_dir: dict[str, list[Watch]] = {}
        self._state: dict[str, _State] = {}
        self._lock = threading.Lock()
        # Watches asked for by other telemetry are set up on this sensor's own thread: baselining a
        # tree means hashing files, and the monitor's worker must never wait for that.
        self._pending: queue.SimpleQueue[Watch] = queue.SimpleQueue()

    def open(self) -> None:
        self._watcher = ino.Watcher(self._stats)
        for watch in self._initial:
            self.watch(watch)

    def observe(self, event: Event) -> None:
        """Called by the monitor with every event: lets other telemetry add watches."""
        if self._follow is not None and not self._stop.is_set():
            for watch in self._follow(event):
                self._pending.put(watch)

    def watch(self, watch: Watch) -> None:
        if self._watcher is None:
            return  # not started, or stopped
        path = os.path.abspath(watch.path)
        directory = path if os.path.isdir(path) else os.path.dirname(path)
        with self._lock:
            if not os.path.isdir(directory):
                self._stats.errors += 1
                return
            if directory not in self._by_dir:
                try:
                    self._watcher.add(directory)
                except OSError:
                    self._stats.errors += 1
                    return
                self._by_dir[directory] = []
            self._by_dir[directory].append(dataclasses.replace(watch, path=path))
            targets = [path] if os.path.isfile(path) else self._files_under(path, watch.recursive)
            drifted = []
            for file_path in targets:
                self._state[file_path] = self._snapshot(file_path, watch.mode)
                if watch.changed_since and self._mtime(file_path) > watch.changed_since:
                    drifted.append(file_path)
        for file_path in drifted:
            self._send(watch, file_path, "modified", None, self._state.get(file_path))
        if watch.recursive and os.path.isdir(path):
            for sub in self._subdirs(path):
                self.watch(dataclasses.replace(watch, path=sub, recursive=False))

    @staticmethod
    def _mtime(path: str) -> float:
        try:
            return os.stat(path).st_mtime
        except OSError:
            return 0.0

    def _files_under(self, path: str, recursive: bool) -> list[str]:
        if not os.path.isdir(path):
            return []
        if not recursive:
            return [os.path.join(path, n) for n in os.listdir(path) if os.path.isfile(os.path.join(path, n))]
        found: list[str] = []
        for root, _, names in os.walk(path):
            found.extend(os.path.join(root, n) for n in names)
            if len(found) >= TREE_FILE_LIMIT:
                self._stats.extra["truncated_trees"] += 1  # counted, so a report can say the baseline is partial
                return found[:TREE_FILE_LIMIT]
        return found

    @staticmethod
    def _subdirs(path: str) -> list[str]:
        return [os.path.join(path, n) for n in os.listdir(path) if os.path.isdir(os.path.join(path, n))]

    @staticmethod
    def _snapshot(path: str, mode: str) -> _State:
        try:
            size = os.path.getsize(path)
        except OSError:
            size = -1
        return _State(size=size, sha256=_digest(path) if mode == "hash" and size >= 0 else None)

    def _owner(self, directory: str, path: str) -> Watch | None:
        for watch in self._by_dir.get(directory, []):
            if watch.path == path or watch.path == directory:
                return watch
        return None

    def run(self) -> None:
        assert self._watcher is not None
        for batch in self._watcher.batches(self._stop, timeout=0.1):
            for change in batch:
                with contextlib.suppress(Exception):
                    self._changed(change.directory, change.path, change.mask)
            while True:
                try:
                    pending = self._pending.get_nowait()
                except queue.Empty:
                    break
                with contextlib.suppress(Exception):
                    self.watch(pending)

    def _adopt_dir(self, watch: Watch, path: str, recursive: bool = True) -> None:
        """A directory appeared inside a recursive watch (``mkdir ~/.ssh``), or a watched directory
        that did not exist yet was made (``mkdir -p /var/spool/cron/crontabs``): watch it too, and
        report the files already in it, written between the mkdir and our watch."""
        before = set(self._state)
        self.watch(dataclasses.replace(watch, path=path, recursive=recursive))
        if watch.changed_since:
            return  # watch() reported every file modified since then, these included
        for file_path in self._files_under(path, True):
            if file_path not in before:
                self._send(watch, file_path, "created", None, self._state.get(file_path))

    def _changed(self, directory: str, path: str, mask: int) -> None:
        if mask & ino.IN_ISDIR and mask & (ino.IN_CREATE | ino.IN_MOVED_TO):
            with self._lock:
                watch = self._owner(directory, path)
            if watch is not None and watch.recursive and watch.path == directory:
                self._adopt_dir(watch, path)
            elif watch is not None and watch.path == path:
                # The watched directory itself appeared (it was anchored on its parent until now).
                self._adopt_dir(watch, path, watch.recursive)
            return
        with self._lock:
            watch = self._owner(directory, path)
            if watch is None:
                return
            before = self._state.get(path)
            if mask & ino.IN_ISDIR:
                return
            if mask & (ino.IN_DELETE | ino.IN_MOVED_FROM):
                action = "deleted"
                after = None
                self._state.pop(path, None)
            else:
                if mask & ino.IN_MODIFY and watch.mode == "hash":
                    return  # wait for IN_CLOSE_WRITE: hashing a half-written file proves nothing
                after = self._snapshot(path, watch.mode)
                self._state[path] = after
                if before is None or before.size < 0:
                    action = "created"
                elif watch.mode == "size":
                    if after.size >= before.size:
                        return  # a log growing is a log working
                    action = "truncated"
                elif after.sha256 == before.sha256:
                    if mask & ino.IN_ATTRIB:
                        action = "attributes_changed"
                    else:
                        return
                else:
                    action = "modified"
        self._send(watch, path, action, before, after)

    def _send(self, watch: Watch, path: str, action: str, before: _State | None, after: _State | None) -> None:
        event = new_event("linux", "linux.fim", action)
        event["event.category"] = "file_change"
        event["file.path"] = path
        event["file.directory"] = os.path.dirname(path)
        event["file.name"] = os.path.basename(path)
        event["file.role"] = watch.role
        if after is not None:
            event["file.size"] = after.size
            if after.sha256:
                event["file.hash.sha256"] = after.sha256
        if before is not None:
            event["file.previous.size"] = before.size
            if before.sha256:
                event["file.previous.hash.sha256"] = before.sha256
        if watch.container_id:
            event["container.id"] = watch.container_id
        if watch.root and (path == watch.root or path.startswith(watch.root.rstrip("/") + "/")):
            event["file.path_in_container"] = (watch.view.rstrip("/") + path[len(watch.root.rstrip("/")):]) or "/"
        for key, value in watch.fields:
            event.setdefault(key, value)
        self.send(event)

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
