"""The control socket of a running ``stowaway watch``: ``stowaway respond`` and ``stowaway release``
ask the watch to act, because only the watch holds what a response needs (the alerts it raised,
the window of events around them, and the containments it made).

One Unix stream socket per watch, ``<runtime>/watch/<run id>.sock``, mode 0600 (root's, like the
engine socket the watch holds). A request is one JSON object on one line, the answer likewise; one
request per connection, handled one at a time (a response takes seconds and two at once on one
workload would race). The server never reads more than ``MAX_REQUEST`` bytes nor waits more than
``READ_TIMEOUT_S`` for them, so a stuck client cannot hold the watch.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab import LabPaths

MAX_REQUEST = 64 * 1024
READ_TIMEOUT_S = 10.0
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(Exception):
    """No watch to ask, or the watch's answer was not one: the message says which."""


def socket_dir(paths: LabPaths) -> Path:
    return paths.runtime / "watch"


def socket_path(paths: LabPaths, run_id: str) -> Path:
    return socket_dir(paths) / f"{run_id}.sock"


class ControlServer:
    """Serves ``handler`` on the watch's socket from a thread of its own until ``stop``."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path, self.handler = path, handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a dead watch's (the run id is new: never a live one's)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # created 0600: nobody but root asks a watch to contain anything
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        sock.listen(4)
        sock.settimeout(0.5)  # the accept loop looks at the stop switch this often
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="watch-control", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            with conn:
                self._one(conn)

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(READ_TIMEOUT_S)
        data = b""
        try:
            while b"\n" not in data and len(data) <= MAX_REQUEST:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return
        if len(data) > MAX_REQUEST:
            answer: dict[str, Any] = {"ok": False, "error": f"request over {MAX_REQUEST} bytes"}
        else:
            try:
                request = json.loads(data.split(b"\n", 1)[0] or b"null")
            except ValueError as exc:
                request, answer = None, {"ok": False, "error": f"not JSON: {exc}"}
            if isinstance(request, dict):
                try:
                    answer = self.handler(request)
                except Exception as exc:  # the watch goes on; the caller hears why
                    answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            elif request is not None or not data:
                answer = {"ok": False, "error": "a request is one JSON object on one line"}
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps(answer, default=str).encode() + b"\n")

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def live_watches(paths: LabPaths) -> list[str]:
    """Run ids of the watches whose socket is there and whose process is alive (a killed watch's
    socket lingers until the reaper removes it)."""
    from lab import live_run_ids

    directory = socket_dir(paths)
    if not directory.is_dir():
        return []
    alive = live_run_ids(paths)
    return sorted(p.stem for p in directory.glob("*.sock") if p.stem in alive)


def choose_watch(paths: LabPaths, run_id: str | None) -> Path:
    """The socket of ``run_id``'s watch, or of the only one running.

    Raises:
        ControlError: no watch, several and none named, or the named one is not running.
    """
    running = live_watches(paths)
    if run_id:
        if run_id not in running:
            raise ControlError(f"--watch {run_id}: no such watch is running (running: {', '.join(running) or 'none'})")
        return socket_path(paths, run_id)
    if not running:
        raise ControlError("no `stowaway watch` is running on this machine: start one first")
    if len(running) > 1:
        raise ControlError(f"several watches are running ({', '.join(running)}): name one with --watch")
    return socket_path(paths, running[0])


def ask(path: Path, request: dict[str, Any], timeout_s: float = 180.0) -> dict[str, Any]:
    """Send one request and wait for the answer (a response with evidence takes seconds to a minute).

    Raises:
        ControlError: the watch is gone, or did not answer with JSON in time.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while b"\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (ConnectionRefusedError, FileNotFoundError) as exc:
        raise ControlError(f"the watch behind {path} is gone ({exc.strerror}); it was killed, or stopped") from exc
    except OSError as exc:
        raise ControlError(f"asking the watch at {path}: {exc}") from exc
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise ControlError(f"the watch at {path} answered something that is not JSON: {data[:200]!r}") from exc
    if not isinstance(answer, dict):
        raise ControlError(f"the watch at {path} answered {answer!r}")
    return answer
