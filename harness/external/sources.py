"""Where another detector's alerts come from during a run: a JSON-lines file it writes, or an HTTP
receiver on loopback it posts to.

Both are *polled* by the harness (``poll()`` returns what arrived since the last call), so grading
never waits on a tool's thread. Both are bounded: the file is read in slices of at most
``MAX_SLICE`` bytes a poll, the receiver refuses bodies over ``max_body`` bytes and stops accepting
records after ``max_records`` (said in ``problems``), and it serves on a loopback address only: a
tool on another machine ships to a file or a SIEM, never to a port this lab opens to the network.

A record that cannot be read as an alert is not fatal mid-run (the tool wrote it, not the user): it
is counted, and the first few are kept with their place (``file:PATH:LINE``, ``http:N``) for the
scorecard. What *is* the user's input (a source spec, a format name) is checked before the run.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from harness.external.alert import AlertFormatError, ExternalAlert

MAX_SLICE = 4 << 20  # bytes read from a followed file per poll
KEPT_PROBLEMS = 5  # unreadable records remembered by place (all are counted)

Parser = Callable[[dict[str, Any], str], ExternalAlert | None]


class SourceError(ValueError):
    """A source spec the run refuses before anything starts; the message names the spec."""


class AlertSource(Protocol):
    detector: str
    where: str  # "file:/var/log/falco.jsonl", "http://127.0.0.1:9765/", "auditd:<rule files>"

    def start(self) -> None: ...
    def poll(self) -> list[ExternalAlert]: ...
    def finish(self) -> list[ExternalAlert]: ...  # the last alerts, then stop: called once, always
    def problems(self) -> list[str]: ...
    def unreadable(self) -> int: ...


@dataclass(slots=True)
class _Problems:
    count: int = 0
    first: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, where: str, message: str) -> None:
        with self.lock:
            self.count += 1
            if len(self.first) < KEPT_PROBLEMS:
                self.first.append(f"{where}: {message}")


def _decode(raw: bytes | str) -> list[dict[str, Any]]:
    """One record, a JSON array of records, or JSON lines: what tools post and write."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    stripped = text.strip()
    if not stripped:
        return []
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        return [whole]
    if isinstance(whole, list):
        if not all(isinstance(item, dict) for item in whole):
            raise AlertFormatError("a JSON array of alerts holds something that is not an object")
        return whole
    records = []
    for line in stripped.splitlines():
        if line.strip():
            item = json.loads(line)  # JSONDecodeError is a ValueError: the caller reports it
            if not isinstance(item, dict):
                raise AlertFormatError(f"a line is JSON {type(item).__name__}, not an object")
            records.append(item)
    return records


class JsonLinesFile:
    """Follow a JSON-lines file another tool appends to (Falco's ``file_output``, Tetragon's
    export file, a SIEM's alert export). Lines already in the file when the run starts are read
    too: grading keeps only alerts inside a scenario's window, so old ones cannot pass for new.
    A file truncated or replaced (log rotation) is read again from its start."""

    def __init__(self, path: Path, parse: Parser, detector: str) -> None:
        self.path, self._parse, self.detector = path, parse, detector
        self.where = f"file:{path}"
        self._offset = 0
        self._inode = 0
        self._line = 0
        self._partial = b""
        self._problems = _Problems()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Nothing to open yet: the tool may create the file after the run starts."""

    def poll(self) -> list[ExternalAlert]:
        with self._lock:
            data = self._read()
            if not data:
                return []
            chunk = self._partial + data
            *lines, self._partial = chunk.split(b"\n")
            alerts = []
            for line in lines:
                self._line += 1
                if line.strip():
                    alerts.extend(self._one(line))
            return alerts

    def _read(self) -> bytes:
        try:
            with open(self.path, "rb") as handle:
                stat = Path(handle.name).stat()
                if stat.st_ino != self._inode or stat.st_size < self._offset:
                    self._inode, self._offset, self._line, self._partial = stat.st_ino, 0, 0, b""
                handle.seek(self._offset)
                data = handle.read(MAX_SLICE)
                self._offset += len(data)
                return data
        except FileNotFoundError:
            return b""

    def _one(self, line: bytes) -> list[ExternalAlert]:
        try:
            records = _decode(line)
            return [a for a in (self._parse(r, self.detector) for r in records) if a is not None]
        except (ValueError, UnicodeDecodeError) as exc:
            self._problems.add(f"{self.where}:{self._line}", str(exc))
            return []

    def finish(self) -> list[ExternalAlert]:
        """The last poll; a last line without its newline is a record the tool finished writing."""
        alerts = self.poll()
        with self._lock:
            rest, self._partial = self._partial, b""
            if rest.strip():
                self._line += 1
                alerts.extend(self._one(rest))
        return alerts

    def problems(self) -> list[str]:
        return list(self._problems.first)

    def unreadable(self) -> int:
        return self._problems.count


def loopback_address(host: str) -> str:
    """``host`` when it is a loopback address (127.0.0.0/8, ::1); SourceError otherwise."""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise SourceError(f"http receiver address {host!r}: only a loopback address (127.0.0.1, ::1) is served")


class HttpReceiver:
    """An HTTP endpoint on loopback that tools post alerts to (Falco's ``http_output``, a SIEM's
    webhook). Any path; the body is one JSON object, a JSON array or JSON lines; it answers 200 with
    how many alerts it took. Bounded in body size and record count; served by its own threads
    until ``finish``."""

    def __init__(self, parse: Parser, detector: str, host: str = "127.0.0.1", port: int = 0,
                 max_body: int = 1 << 20, max_records: int = 200_000) -> None:
        self._parse, self.detector = parse, detector
        self.max_body, self.max_records = max_body, max_records
        self._host, self._port = loopback_address(host), port
        self._alerts: list[ExternalAlert] = []
        self._taken = 0
        self._requests = 0
        self._problems = _Problems()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Bound now, listening before the run starts: a port in use is bad input, said before the lab
        # comes up, and a tool that starts first finds the port open.
        self._server: ThreadingHTTPServer | None = self._bind()
        self.where = f"http://{self._host}:{self.port}/"

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server is not None else self._port

    def _bind(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # seconds a client may take to send its request: a stuck one frees its thread

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the scorecard says what went wrong; stderr is the run's progress

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in self._host else socket.AF_INET

        try:
            server = Server((self._host, self._port), Handler)
        except OSError as exc:
            raise SourceError(f"http receiver on {self._host}:{self._port}: {exc.strerror or exc}") from None
        server.daemon_threads = True
        return server

    def start(self) -> None:
        server = self._server
        if server is None:
            raise SourceError(f"http receiver {self.where}: already finished")
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"alerts-{self.detector}", daemon=True)
        self._thread.start()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._requests += 1
            number = self._requests
        length = int(request.headers.get("Content-Length") or 0)
        if length > self.max_body:
            self._problems.add(f"http:{number}", f"body of {length} bytes refused (over {self.max_body})")
            self._answer(request, 413, {"error": f"body over {self.max_body} bytes"})
            return
        body = request.rfile.read(length)
        try:
            alerts = [a for a in (self._parse(r, self.detector) for r in _decode(body)) if a is not None]
        except (ValueError, UnicodeDecodeError) as exc:
            self._problems.add(f"http:{number}", str(exc))
            self._answer(request, 400, {"error": str(exc)})
            return
        with self._lock:
            room = max(0, self.max_records - self._taken)
            kept = alerts[:room]
            self._alerts.extend(kept)
            self._taken += len(kept)
        if len(kept) < len(alerts):
            self._problems.add(f"http:{number}", f"{len(alerts) - len(kept)} alerts dropped: the receiver "
                                                 f"takes at most {self.max_records} a run")
        self._answer(request, 200, {"accepted": len(kept)})

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def poll(self) -> list[ExternalAlert]:
        with self._lock:
            taken, self._alerts = self._alerts, []
        return taken

    def finish(self) -> list[ExternalAlert]:
        """Stop serving (a request under way completes), then hand over what it took."""
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        return self.poll()

    def problems(self) -> list[str]:
        return list(self._problems.first)

    def unreadable(self) -> int:
        return self._problems.count
