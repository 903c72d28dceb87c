"""Progress lines for a terminal (and for CI logs): elapsed time, and a heartbeat during long waits.

The runner reports each step as one line. When nothing is reported for ``heartbeat_s`` seconds
(building the base image, a benign scenario's quiet window, an analytic's deadline), the printer
repeats what it is waiting for and for how long, so nobody wonders whether the run hung.

Colour only on a terminal, and never when ``NO_COLOR`` is set to a non-empty value (no-color.org):
a CI log or a file gets plain lines either way.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import TextIO


class ProgressPrinter:
    def __init__(self, stream: TextIO | None = None, heartbeat_s: float = 10.0, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.heartbeat_s = heartbeat_s
        self.quiet = quiet
        self.color = use_color(self.stream)
        self._started = time.monotonic()
        self._last_at = self._started
        self._last = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, message: str) -> None:
        with self._lock:
            self._last, self._last_at = message, time.monotonic()
            self._write(message)

    def _write(self, message: str, dim: bool = False) -> None:
        if self.quiet:
            return
        stamp = f"[{time.monotonic() - self._started:6.1f}s]"
        if self.color:
            style = "\033[2m" if dim else _style(message)
            line = f"\033[2m{stamp}\033[0m {style}{message}\033[0m" if style else f"\033[2m{stamp}\033[0m {message}"
        else:
            line = f"{stamp} {message}"
        print(line, file=self.stream, flush=True)

    def _beat(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                quiet_for = time.monotonic() - self._last_at
                if self._last and quiet_for >= self.heartbeat_s:
                    self._write(f"  ... still waiting ({quiet_for:.0f}s since: {self._last.strip()})", dim=True)
                    self._last_at = time.monotonic()

    def __enter__(self) -> ProgressPrinter:
        self._thread = threading.Thread(target=self._beat, name="progress-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


def use_color(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Colour for a terminal, unless NO_COLOR says otherwise (any non-empty value, as no-color.org asks)."""
    return bool(getattr(stream, "isatty", lambda: False)()) and not environ.get("NO_COLOR")


def _style(message: str) -> str:
    """Colour verdict lines so a terminal reader spots misses and false positives at once."""
    if any(word in message for word in (": missed", ": false_positive", ": error")):
        return "\033[31m"
    if any(word in message for word in (": detected", ": silent")):
        return "\033[32m"
    if ": skipped" in message:
        return "\033[33m"
    return ""
