"""A tracefs instance of a sensor's own: made, read through ``trace_pipe``, removed.

An instance (``instances/<name>``) has its own ring buffer and event switches, so a sensor never
disturbs the host's global trace or another sensor's instance. Names come from
``lab.naming.tracefs_instance``, so the lab's reaper can remove the instances of dead runs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
REMOVE_TRIES = 50  # rmdir fails with EBUSY while a reader still holds trace_pipe: retry for 5 s


class TracefsUnavailable(RuntimeError):
    pass


def ensure_tracefs(root: Path = TRACEFS) -> Path:
    """Mount tracefs if it is not mounted yet (needs root). Returns the instances directory."""
    instances = root / "instances"
    if not instances.is_dir():
        result = subprocess.run(["mount", "-t", "tracefs", "nodev", str(root)], capture_output=True, text=True,
                                check=False, timeout=10)
        if not instances.is_dir():
            raise TracefsUnavailable(f"tracefs is not available at {root}: {result.stderr.strip()}")
    return instances


class TraceInstance:
    def __init__(self, name: str, root: Path = TRACEFS) -> None:
        self.root = root
        self.path = root / "instances" / name
        self.boot_clock = False  # whether timestamps count on the boot clock (the one /proc uses)
        self._events: list[str] = []
        self._fd = -1

    @property
    def live(self) -> bool:
        """Made, and its trace_pipe open (until ``remove``)."""
        return self._fd >= 0

    def create(self, events: Iterable[str], *, filters: Mapping[str, str] | None = None,
               options: Iterable[str] = (), buffer_kb: int | None = None) -> None:
        """Make the instance, switch ``events`` on (``sched/sched_process_exec``, ...), each with its
        filter if it has one, and open its trace_pipe. Raises TracefsUnavailable or OSError; what
        was made by then is left for ``remove``."""
        ensure_tracefs(self.root)
        self.path.mkdir(exist_ok=True)
        if buffer_kb is not None:
            (self.path / "buffer_size_kb").write_text(str(buffer_kb))
        for option in options:
            (self.path / "options" / option).write_text("1")
        try:
            (self.path / "trace_clock").write_text("boot")
            self.boot_clock = True
        except OSError:
            self.boot_clock = False
        for event in events:
            if filters and event in filters:
                (self.path / "events" / event / "filter").write_text(filters[event])
            (self.path / "events" / event / "enable").write_text("1")
            self._events.append(event)
        (self.path / "tracing_on").write_text("1")
        self._fd = os.open(self.path / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    def lines(self, stop: threading.Event, timeout: float = 0.2) -> Iterator[list[bytes]]:
        """The complete lines of each read until ``stop`` is set (a line cut by the read waits for
        its rest), and an empty list each ``timeout`` without any, so the caller's periodic work runs."""
        pending = b""
        while not stop.is_set() and self._fd >= 0:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                yield []
                continue
            try:
                chunk = os.read(self._fd, 1 << 16)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EINTR):
                    continue
                raise
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            yield lines

    def remove(self) -> bool:
        """Close the pipe, switch tracing off and remove the instance. Idempotent. False when it is
        still there after trying for a while (a reader elsewhere holds it)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        if not self.path.exists():
            return True
        with contextlib.suppress(OSError):
            (self.path / "tracing_on").write_text("0")
        for event in self._events:
            with contextlib.suppress(OSError):
                (self.path / "events" / event / "enable").write_text("0")
        for _ in range(REMOVE_TRIES):
            try:
                self.path.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError:
                time.sleep(0.1)
        return False
