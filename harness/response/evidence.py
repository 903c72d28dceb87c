"""The evidence bundle: one archive of what a container was and did around an alert.

``collect`` reads the engine (inspect, logs, the filesystem diff against the image, the process
tree, the files the container dropped, through ``docker cp``'s archive API) and the event window
(the container's process, network and file events, and the flows they describe), and writes them
with the alert, the sinkhole's records of the container's traffic and the indicators into ONE
``<rule>-<short id>-<epoch>.tar.gz``. The archive is written under a temporary name in the same
directory, fsync-ed, then linked to its final name: a reader sees a whole bundle or none, and a
crash mid-write leaves no half archive under a bundle's name (the temporary file is removed on any
failure, and a hidden ``.*.partial`` is all a killed process can leave).

``manifest.json`` is the last member: every other member's name, size and sha256, when the bundle
was collected, and what could not be collected and why. A member that is missing is either
*inherent* (the container never had it: no logs under the ``none`` driver, no processes once it
stopped, no sinkhole records when none were given) or a *failure* (the engine refused, the container
vanished mid-collection). ``complete`` means no failure: everything the container could have had
is in the bundle.

Blind spots: ``diff.json`` covers the container's writable layer only: files written to a volume or
a bind mount are not in it, and are hashed only when the container ran them (their process events
say they are not in the image) or a FIM event hashed them. The process tree is the engine's ``ps``
view of the host's pid namespace: uids are the host's (a user-namespace remap shows remapped ids),
and executables are read from the host's /proc (absent when the engine is on another host). No
pcap slice: the packet sensor keeps flows, not packets.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import re
import tarfile
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol

import docker.errors
import orjson

from detectors.event import Event
from harness.response.indicators import Indicators, indicators_of
from harness.response.window import EventWindow, flows_from

FORMAT = "stowaway-evidence/1"
MANIFEST = "manifest.json"
MAX_FILES = 64  # files hashed per bundle
MAX_FILE_BYTES = 32 * 1024 * 1024  # a bigger file is listed, not hashed
MAX_TOTAL_BYTES = 256 * 1024 * 1024  # hashed per bundle: a diff of a whole package install must not take minutes
LOG_TAIL_LINES = 20000
LOG_MAX_BYTES = 16 * 1024 * 1024
PS_ARGS = "-eo pid,ppid,uid,etimes,args"  # -e: docker filters ps's whole list by the container's pids
PSEUDO_FILESYSTEMS = ("/proc/", "/sys/", "/dev/")
# Drivers whose logs the engine reads back itself; any other keeps logs readable only through the
# engine's dual-logging cache, and where that is off, having none is the driver's nature.
READABLE_LOG_DRIVERS = ("json-file", "local", "journald")
CHANGE_KINDS = {0: "modified", 1: "added", 2: "deleted"}
# Go's os.FileMode type bits, as the archive API's stat header carries them.
_MODE_TYPES = ((1 << 31, "a directory"), (1 << 27, "a symlink"), (1 << 26, "a device"), (1 << 25, "a named pipe"),
               (1 << 24, "a socket"), (1 << 21, "a character device"), (1 << 19, "an irregular file"))


class EvidenceError(Exception):
    """The archive could not be written; no bundle exists (and no partial file is left)."""


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class Gap:
    """A member (or part of one) the bundle lacks, and why."""

    member: str
    reason: str
    inherent: bool  # the container never had it (not a failure to collect it)

    def __str__(self) -> str:
        return f"{self.member}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"member": self.member, "reason": self.reason, "inherent": self.inherent}


@dataclass(frozen=True)
class EvidenceBundle:
    path: Path
    sha256: str  # of the archive file
    members: list[Member]  # every member, manifest.json last
    missing: list[str]  # "member: reason", inherent and failed alike (``gaps`` tells them apart)
    indicators: Indicators
    complete: bool  # nothing missing that the container could have had
    container_id: str = ""
    collected_at: float = 0.0
    duration_s: float = 0.0
    size: int = 0  # of the archive, bytes
    gaps: list[Gap] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "size": self.size, "container_id": self.container_id,
                "collected_at": self.collected_at, "duration_s": self.duration_s, "complete": self.complete,
                "members": [m.to_dict() for m in self.members], "missing": list(self.missing),
                "gaps": [g.to_dict() for g in self.gaps], "indicators": self.indicators.to_dict()}


def _json(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def _why(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return f"{type(exc).__name__}: {explanation or exc}"


class _Absent(Exception):
    """A member the container does not have, by its nature (``inherent``) or not."""

    def __init__(self, reason: str, inherent: bool) -> None:
        super().__init__(reason)
        self.inherent = inherent


class _Collector:
    """One collection: the members gathered so far, and the gaps."""

    def __init__(self, client: Any, container_id: str) -> None:
        self.api = client.api
        self.container_id = container_id
        self.members: dict[str, bytes] = {}
        self.gaps: list[Gap] = []
        self.notes: list[str] = []
        self.inspect: dict[str, Any] | None = None
        self.gone = ""  # why the engine cannot answer for the container, once known
        self.timings: dict[str, float] = {}  # member -> seconds spent collecting it

    def gap(self, member: str, reason: str, inherent: bool = False) -> None:
        self.gaps.append(Gap(member, reason, inherent))

    def engine_member(self, name: str, read: Callable[[], bytes | None]) -> None:
        """Collect one member from the engine: each member is independent, so a failure (a refusal, a
        timeout, the container vanishing mid-way) costs that member only, and is recorded as a gap."""
        if self.gone:
            self.gap(name, self.gone)
            return
        started = time.perf_counter()
        try:
            data = read()
        except _Absent as exc:
            self.gap(name, str(exc), inherent=exc.inherent)
        except docker.errors.NotFound as exc:
            self.gone = f"the container is gone ({_why(exc)})"
            self.gap(name, self.gone)
        except Exception as exc:  # an engine or transport error: recorded, the other members still come
            self.gap(name, f"not collected: {_why(exc)}")
        else:
            if data is not None:
                self.members[name] = data
        finally:
            self.timings[name] = round(time.perf_counter() - started, 4)

    # --- members from the engine --------------------------------------------------------------
    def read_inspect(self) -> bytes:
        self.inspect = dict(self.api.inspect_container(self.container_id))
        self.container_id = str(self.inspect.get("Id") or self.container_id)
        return _json(self.inspect)

    @property
    def running(self) -> bool:
        return bool(((self.inspect or {}).get("State") or {}).get("Running"))

    def read_logs(self) -> bytes | None:
        driver = str((((self.inspect or {}).get("HostConfig") or {}).get("LogConfig") or {}).get("Type") or "?")
        if driver == "none":
            self.gap("logs.txt", f"none kept (driver {driver})", inherent=True)
            return f"none kept (driver {driver})\n".encode()
        try:
            data = bytes(self.api.logs(self.container_id, stdout=True, stderr=True, timestamps=True,
                                       tail=LOG_TAIL_LINES))
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as exc:
            inherent = driver not in READABLE_LOG_DRIVERS
            self.gap("logs.txt", f"none kept (driver {driver}): {_why(exc)}", inherent=inherent)
            return f"none kept (driver {driver})\n".encode()
        if data.count(b"\n") >= LOG_TAIL_LINES:
            self.notes.append(f"logs.txt: the last {LOG_TAIL_LINES} lines only")
        if len(data) > LOG_MAX_BYTES:
            self.notes.append(f"logs.txt: the last {LOG_MAX_BYTES} bytes of {len(data)}")
            data = data[-LOG_MAX_BYTES:]
        return data

    def read_diff(self) -> list[dict[str, Any]]:
        changes = self.api.diff(self.container_id) or []
        return [{"path": str(c.get("Path")), "kind": c.get("Kind"), "change": CHANGE_KINDS.get(c.get("Kind"), "?")}
                for c in changes]

    def read_processes(self, proc: str) -> bytes:
        if self.inspect is not None and not self.running:
            status = ((self.inspect.get("State") or {}).get("Status")) or "not running"
            raise _Absent(f"no processes: the container is {status}", inherent=True)
        users = self.read_passwd()
        source = "engine top"
        try:
            top = self.api.top(self.container_id, ps_args=PS_ARGS)
            processes = _from_top(top)
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as exc:
            # No ps on the engine's host, or ps refuses these arguments: the host's /proc still says.
            processes = _from_proc(self.container_id, proc)
            if not processes:
                raise
            source = "/proc"
            self.notes.append(f"processes.json: from /proc (engine top: {_why(exc)})")
        for process in processes:
            _enrich_from_proc(process, self.container_id, proc)
            uid = process.get("uid")
            if isinstance(uid, int):
                process["user"] = users.get(uid, str(uid))
        return _json({"source": source, "processes": processes, "tree": _tree(processes)})

    def read_passwd(self) -> dict[int, str]:
        """uid -> name from the container's own /etc/passwd (the host's names mean nothing in it)."""
        try:
            data = self.read_file("/etc/passwd", 1 << 20)
        except Exception:  # no passwd in the image, or unreadable: uids stay numbers
            return {}
        users: dict[int, str] = {}
        for line in data.decode(errors="replace").splitlines():
            parts = line.split(":")
            if len(parts) > 2 and parts[2].isdigit():
                users.setdefault(int(parts[2]), parts[0])
        return users

    def read_file(self, path: str, limit: int) -> bytes:
        """A small regular file's bytes through the archive API (raises on anything else)."""
        stream, stat = self.api.get_archive(self.container_id, path)
        with _archive_entry(stream) as (_info, handle):
            kind = _not_regular(stat)
            if kind or handle is None:
                raise ValueError(f"{path} is {kind or 'not a regular file'}")
            return handle.read(limit)

    def hash_file(self, path: str, max_bytes: int) -> dict[str, Any]:
        """sha256 and size of one file, or why it was not hashed."""
        try:
            stream, stat = self.api.get_archive(self.container_id, path)
        except docker.errors.NotFound:
            return {"skipped": "gone (removed after the diff was read)"}
        stat = dict(stat or {})
        kind = _not_regular(stat)
        size = int(stat.get("size") or 0)
        # Judged on the stat header, before a byte of the body is read: a device or a huge file is
        # never streamed at all.
        if kind:
            _close(stream)
            target = f" to {stat['linkTarget']}" if stat.get("linkTarget") else ""
            return {"skipped": f"{kind}{target}, not a regular file"}
        if size > max_bytes:
            _close(stream)
            return {"size": size, "skipped": f"{size} bytes, over the {max_bytes}-byte limit"}
        with _archive_entry(stream) as (info, handle):
            if handle is None or not info.isreg():
                return {"skipped": "not a regular file in the archive"}
            digest, read = hashlib.sha256(), 0
            while chunk := handle.read(1 << 20):
                read += len(chunk)
                if read > max_bytes:
                    return {"size": info.size, "skipped": f"grew past the {max_bytes}-byte limit while read"}
                digest.update(chunk)
            return {"size": read, "sha256": digest.hexdigest()}


@contextlib.contextmanager
def _archive_entry(stream: Any) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """The first entry of the archive API's tar stream (it holds one for a file), read as it arrives."""
    try:
        with tarfile.open(fileobj=io.BufferedReader(_Chunks(iter(stream))), mode="r|") as reader:
            info = reader.next()
            if info is None:
                raise ValueError("empty archive")
            yield info, reader.extractfile(info)
    finally:
        _close(stream)


class _Chunks(io.RawIOBase):
    """A file over the archive API's chunk iterator, for ``tarfile``'s stream mode."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


def _not_regular(stat: Mapping[str, Any] | None) -> str:
    mode = int((stat or {}).get("mode") or 0)
    return next((kind for bit, kind in _MODE_TYPES if mode & bit), "")


# --- processes -------------------------------------------------------------------------------
def _from_top(top: Mapping[str, Any]) -> list[dict[str, Any]]:
    titles = [str(t).upper() for t in top.get("Titles") or []]
    out = []
    for row in top.get("Processes") or []:
        cells = dict(zip(titles, row, strict=False))
        process: dict[str, Any] = {"pid": _int(cells.get("PID")), "ppid": _int(cells.get("PPID")),
                                   "uid": _int(cells.get("UID")), "elapsed_s": _int(cells.get("ELAPSED")),
                                   "command": str(cells.get("COMMAND") or cells.get("CMD") or "")}
        process["name"] = posixpath.basename(process["command"].split(" ", 1)[0])
        out.append(process)
    return out


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(1 << 16)
    except OSError:
        return None


def _belongs(pid: int, container_id: str, proc: str) -> bool:
    """Is host pid ``pid`` in the container (its cgroup path names the container)? Guards the reads
    of /proc against a pid reused since ``ps`` ran, and against an engine on another host."""
    if pid <= 1:  # the host's init is never read, whatever a pid-host container's ps says
        return False
    cgroup = _read(f"{proc}/{pid}/cgroup")
    return cgroup is not None and container_id.encode() in cgroup


def _enrich_from_proc(process: dict[str, Any], container_id: str, proc: str) -> None:
    """The executable and the kernel's name (comm) of a process: ps shows argv, which the program
    writes itself (a masquerade renames argv[0]); the executable's path is the kernel's word."""
    pid = process.get("pid")
    if not isinstance(pid, int) or not _belongs(pid, container_id, proc):
        return
    with contextlib.suppress(OSError):
        exe = os.readlink(f"{proc}/{pid}/exe")
        process["executable_deleted"] = exe.endswith(" (deleted)")
        process["executable"] = exe.removesuffix(" (deleted)")
    comm = _read(f"{proc}/{pid}/comm")
    if comm:
        process["name"] = comm.decode(errors="replace").strip()


def _from_proc(container_id: str, proc: str) -> list[dict[str, Any]]:
    """The container's processes by a walk of the host's /proc, for when the engine's top cannot."""
    out = []
    for entry in os.scandir(proc) if os.path.isdir(proc) else []:
        if not entry.name.isdigit() or not _belongs(int(entry.name), container_id, proc):
            continue
        stat = _read(f"{proc}/{entry.name}/stat")
        status = _read(f"{proc}/{entry.name}/status") or b""
        cmdline = _read(f"{proc}/{entry.name}/cmdline") or b""
        if stat is None:
            continue  # gone since the listing
        fields = stat.rsplit(b")", 1)[-1].split()
        uid = re.search(rb"^Uid:\s+(\d+)", status, re.M)
        command = " ".join(a.decode(errors="replace") for a in cmdline.rstrip(b"\0").split(b"\0") if a)
        out.append({"pid": int(entry.name), "ppid": _int(fields[1].decode()) if len(fields) > 1 else None,
                    "uid": int(uid.group(1)) if uid else None, "elapsed_s": None, "command": command,
                    "name": posixpath.basename(command.split(" ", 1)[0]) if command else ""})
    return sorted(out, key=lambda p: p["pid"])


def _tree(processes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flat list nested by parent: roots are processes whose parent is not in the container."""
    nodes = {p["pid"]: {"pid": p["pid"], "name": p.get("name", ""), "command": p.get("command", ""), "children": []}
             for p in processes}
    roots = []
    for process in processes:
        parent = nodes.get(process.get("ppid"))
        if parent is not None and process.get("ppid") != process["pid"]:
            parent["children"].append(nodes[process["pid"]])
        else:
            roots.append(nodes[process["pid"]])
    return roots


# --- dropped files ---------------------------------------------------------------------------
def _candidates(diff: list[dict[str, Any]], events: list[Event]) -> list[tuple[str, str]]:
    """(path, why) of the files worth hashing, most telling first: programs the container ran from
    outside its image, then files added, then files changed. A path that another diff entry lies
    under is a directory and is left out without asking the engine."""
    parents = set()
    for entry in diff:
        path = entry["path"]
        while (path := posixpath.dirname(path)) not in ("", "/"):
            parents.add(path)
    chosen: dict[str, str] = {}
    for event in events:
        if event.get("process.executable_in_image") is False:
            path = event.get("process.loaded_program") or event.get("process.executable")
            if isinstance(path, str) and path.startswith("/"):
                chosen.setdefault(path, "executed (not in the image)")
    for change in ("added", "modified"):
        for entry in diff:
            if entry["change"] == change and entry["path"] not in parents:
                chosen.setdefault(entry["path"], change)
    return list(chosen.items())


def _engine_init(inspect: Mapping[str, Any] | None) -> set[str]:
    """Where the engine's own init shim sits in the container when it runs one (``--init``). It is
    bind-mounted at start over an empty placeholder file in the writable layer, so the diff lists it as
    added and the process events as not in the image, while the archive API reads the empty placeholder:
    its hash would describe nothing the container ran."""
    if not (((inspect or {}).get("HostConfig") or {}).get("Init")):
        return set()
    return {"/sbin/docker-init", "/usr/sbin/docker-init"}


class FileSource(Protocol):
    """Where dropped files are hashed from: an engine's container (``_Collector``), or a pod's
    container on its node (``pod_diff.PodFiles``)."""

    notes: list[str]

    @property
    def inspect(self) -> Mapping[str, Any] | None: ...

    def hash_file(self, path: str, max_bytes: int) -> dict[str, Any]: ...


def _dropped_files(collector: FileSource, diff: list[dict[str, Any]] | None, events: list[Event],
                   max_files: int, max_bytes: int) -> bytes:
    init = _engine_init(collector.inspect)
    candidates = _candidates(diff or [], events)
    files: list[dict[str, Any]] = []
    budget = MAX_TOTAL_BYTES
    for path, why in candidates[:max_files]:
        entry: dict[str, Any] = {"path": path, "change": why}
        if path.startswith(PSEUDO_FILESYSTEMS):
            entry["skipped"] = "a pseudo-filesystem path"
        elif path in init:
            entry["skipped"] = ("the engine's init shim, bind-mounted over an empty placeholder "
                                "(all the archive API reads)")
        elif budget <= 0:
            entry["skipped"] = f"over the bundle's {MAX_TOTAL_BYTES}-byte hashing budget"
        else:
            try:
                entry.update(collector.hash_file(path, min(max_bytes, budget)))
            except Exception as exc:  # one unreadable file must not cost the others
                entry["skipped"] = f"could not read: {_why(exc)}"
            budget -= int(entry.get("size") or 0) if "sha256" in entry else 0
        files.append(entry)
    left = len(candidates) - len(files)
    if left > 0:
        collector.notes.append(f"dropped-files.json: {left} more files past the {max_files}-file limit")
    return _json({"limits": {"files": max_files, "bytes_each": max_bytes, "bytes_total": MAX_TOTAL_BYTES},
                  "files": files, "not_examined": left})


# --- the archive -----------------------------------------------------------------------------
def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "alert"


def _add_member(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_archive(out_dir: Path, stem: str, members: list[tuple[str, bytes]], mtime: float) -> Path:
    """Write the members to ``<stem>.tar.gz`` (``<stem>-2.tar.gz``... if taken) atomically: a temporary
    file in the same directory, fsync-ed, then hard-linked to the final name (which fails, instead of
    replacing, when the name is taken) and the temporary name removed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=".partial", dir=out_dir)
    try:
        with os.fdopen(handle, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                for name, data in members:
                    _add_member(tar, name, data, mtime)
            raw.flush()
            os.fsync(raw.fileno())
        for attempt in range(1, 1000):
            final = out_dir / (f"{stem}.tar.gz" if attempt == 1 else f"{stem}-{attempt}.tar.gz")
            try:
                os.link(temporary, final)
                break
            except FileExistsError:
                continue
        else:
            raise EvidenceError(f"no free name for {stem}.tar.gz in {out_dir}")
        os.unlink(temporary)
        directory = os.open(out_dir, os.O_RDONLY)
        try:
            os.fsync(directory)  # the new name itself survives a crash
        finally:
            os.close(directory)
        return final
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_members(path: Path) -> dict[str, bytes]:
    """Every member of a bundle: name -> bytes."""
    out = {}
    with tarfile.open(path, mode="r:gz") as tar:
        for info in tar:
            handle = tar.extractfile(info)
            if handle is not None:
                out[info.name] = handle.read()
    return out


def verify(path: Path) -> list[str]:
    """What is wrong with a bundle against its own manifest ([] when every checksum holds)."""
    try:
        contents = read_members(path)
    except (OSError, tarfile.TarError, EOFError) as exc:
        return [f"unreadable archive: {exc}"]
    if MANIFEST not in contents:
        return ["no manifest.json"]
    manifest = orjson.loads(contents[MANIFEST])
    problems = []
    listed = {m["name"]: m for m in manifest.get("members") or []}
    for name, entry in listed.items():
        data = contents.get(name)
        if data is None:
            problems.append(f"{name}: listed, not in the archive")
        elif len(data) != entry.get("size") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            problems.append(f"{name}: size or sha256 differs from the manifest")
    problems += [f"{name}: in the archive, not in the manifest" for name in contents
                 if name not in listed and name != MANIFEST]
    return problems


def _addresses(inspect: Mapping[str, Any] | None, events: list[Event]) -> set[str]:
    """The container's addresses: the engine's, and the source addresses of flows it opened."""
    found = set()
    for network in (((inspect or {}).get("NetworkSettings") or {}).get("Networks") or {}).values():
        for key in ("IPAddress", "GlobalIPv6Address"):
            if (network or {}).get(key):
                found.add(str(network[key]))
    for event in events:
        if event.get("network.direction") != "ingress" and isinstance(event.get("source.ip"), str):
            found.add(event["source.ip"])
    return found


def _created(inspect: Mapping[str, Any] | None) -> float:
    """The container's creation time (RFC 3339 with nanoseconds), epoch seconds; 0.0 when unknown."""
    stamp = str((inspect or {}).get("Created") or "")
    head, _, rest = stamp.partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6] or "0"
    try:
        return datetime.fromisoformat(f"{head}.{fraction}+00:00").timestamp()
    except ValueError:
        return 0.0


def _sinkhole_lines(records: list[dict[str, Any]], inspect: Mapping[str, Any] | None, events: list[Event]) -> bytes:
    """The records from the container's addresses since it was created: an address is reused once its
    container is gone, and an earlier holder's calls are not this container's."""
    mine, born = _addresses(inspect, events), _created(inspect)
    kept = [r for r in records if r.get("peer") in mine
            and not (isinstance(r.get("ts"), (int, float)) and r["ts"] < born)]
    return b"".join(orjson.dumps(r, default=str, option=orjson.OPT_APPEND_NEWLINE) for r in kept)


def _engine_members(collector: _Collector, window: EventWindow, proc: str) -> list[dict[str, Any]] | None:
    """inspect.json, logs.txt, diff.json and processes.json; returns the diff (None when not had)."""
    collector.engine_member("inspect.json", collector.read_inspect)
    if collector.inspect is None:
        collector.gone = collector.gone or "inspect failed, so the engine's other views were not asked"
        # The window may still know the container, by the full id a short one abbreviates.
        given = collector.container_id
        collector.container_id = next((c for c in window.all_containers() if c.startswith(given)), given)
    collector.engine_member("logs.txt", collector.read_logs)
    diff: list[dict[str, Any]] | None = None

    def read_diff() -> bytes:
        nonlocal diff
        diff = collector.read_diff()
        return _json(diff)

    collector.engine_member("diff.json", read_diff)
    collector.engine_member("processes.json", lambda: collector.read_processes(proc))
    return diff


def _window_members(collector: _Collector, window: EventWindow, since: float, until: float) -> list[Event]:
    """events.jsonl and flows.json from the window; returns the container's events."""
    started = time.perf_counter()
    events = window.events_for(collector.container_id, since, until)
    dropped = window.dropped
    if dropped.events or dropped.malformed:
        collector.notes.append(f"events.jsonl: the window dropped {dropped.events} events past its bounds and "
                               f"{dropped.malformed} malformed ones (all containers)")
    collector.members["events.jsonl"] = b"".join(orjson.dumps(e, default=str, option=orjson.OPT_APPEND_NEWLINE)
                                                 for e in events)
    collector.members["flows.json"] = _json([f.to_dict() for f in flows_from(events)])
    collector.timings["events.jsonl+flows.json"] = round(time.perf_counter() - started, 4)
    return events


def _pcap_member(collector: _Collector, packets: Any, addresses: Collection[str], since: float,
                 until: float) -> None:
    if packets is None:
        collector.gap("traffic.pcap", "no packet capture ran beside this response", inherent=True)
        return
    if not addresses:
        collector.gap("traffic.pcap", "the container had no network address to cut its traffic by", inherent=True)
        return
    cut = packets.slice(addresses, since, until)
    collector.members["traffic.pcap"] = cut.pcap
    collector.notes.append(f"traffic.pcap: {cut.packets} frame(s) from or to {', '.join(sorted(addresses))}")
    if cut.oldest_kept is not None and cut.oldest_kept > since:
        collector.notes.append(f"traffic.pcap: the capture ring held frames from {cut.oldest_kept - since:.1f} s "
                               "after the window's start only (older ones were evicted)")


def collect(client: Any, container_id: str, out_dir: Path, *, window: EventWindow, alert: dict[str, Any],
            since: float, until: float | None = None, sinkhole_records: list[dict[str, Any]] | None = None,
            max_files: int = MAX_FILES, max_file_bytes: int = MAX_FILE_BYTES, proc: str = "/proc",
            packets: Any = None, addresses: Collection[str] = ()) -> EvidenceBundle:
    """Collect one container's evidence around ``alert`` into one archive in ``out_dir``.

    ``client`` is a ``docker.DockerClient`` (its ``api`` is used); ``since``/``until`` bound the
    window's events (``until``: now); ``sinkhole_records`` are the lab internet's record lines (the
    ones whose ``peer`` is one of the container's addresses are kept). ``packets`` is the packet
    sensor's ``PacketRing``: the frames from and to ``addresses`` (the container's, as they were
    before any containment moved it) in the window go into ``traffic.pcap``.

    Raises:
        EvidenceError: the archive could not be written (no bundle, and no partial file, is left).
    """
    started = time.time()
    collector = _Collector(client, container_id)
    diff = _engine_members(collector, window, proc)
    until_at = time.time() if until is None else until
    events = _window_members(collector, window, since, until_at)
    if collector.gone:
        collector.gap("dropped-files.json", collector.gone)
    else:
        started_files = time.perf_counter()
        collector.members["dropped-files.json"] = _dropped_files(collector, diff, events, max_files, max_file_bytes)
        collector.timings["dropped-files.json"] = round(time.perf_counter() - started_files, 4)
    collector.members["alert.json"] = _json(alert)
    _pcap_member(collector, packets, addresses, since, until_at)
    if sinkhole_records is None:
        collector.gap("sinkhole.jsonl", "no sinkhole records were given", inherent=True)
    else:
        collector.members["sinkhole.jsonl"] = _sinkhole_lines(sinkhole_records, collector.inspect, events)
        if not _created(collector.inspect):
            collector.notes.append("sinkhole.jsonl: the container's creation time is unknown, so lines from an "
                                   "earlier holder of its addresses may be among its own")
    indicators = indicators_of(collector.members)
    collector.members["indicators.json"] = _json(indicators.to_dict())
    finished = time.time()
    members = [Member(name, len(data), hashlib.sha256(data).hexdigest()) for name, data in collector.members.items()]
    complete = not any(not g.inherent for g in collector.gaps)
    full_id = collector.container_id
    manifest = {
        "format": FORMAT, "container_id": full_id, "alert": {"rule_id": alert.get("rule_id"),
                                                             "object": alert.get("object")},
        "collected_at": started, "finished_at": finished, "window": {"since": since, "until": until_at},
        "members": [m.to_dict() for m in members], "missing": [g.to_dict() for g in collector.gaps],
        "notes": collector.notes, "complete": complete, "timings_s": collector.timings,
    }
    manifest_bytes = _json(manifest)
    stem = f"{_safe(str(alert.get('rule_id') or 'alert'))}-{full_id[:12]}-{int(started)}"
    try:
        path = _write_archive(out_dir, stem, [*collector.members.items(), (MANIFEST, manifest_bytes)], started)
    except OSError as exc:
        raise EvidenceError(f"could not write the evidence bundle in {out_dir}: {exc}") from exc
    members.append(Member(MANIFEST, len(manifest_bytes), hashlib.sha256(manifest_bytes).hexdigest()))
    return EvidenceBundle(path=path, sha256=_sha256_file(path), members=members,
                          missing=[str(g) for g in collector.gaps], indicators=indicators, complete=complete,
                          container_id=full_id, collected_at=started, duration_s=round(time.time() - started, 3),
                          size=path.stat().st_size, gaps=list(collector.gaps))
