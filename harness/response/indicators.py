"""Indicators from an evidence bundle, and the other containers that touched them.

``indicators_of`` reads a bundle's members (``harness.response.evidence``) and lists what an analyst
would search a fleet for: the destinations the container called (``ip:port/proto``, from its flows
and from NAT rules redirecting its traffic), the sha256 of the files it dropped, the executables
and process names it ran, and the users they ran as.

``cross_reference`` searches the rest of the window (every other container's recent events) for the
same destinations, hashes, executables and process names: "cross-reference to identify additional
IoCs". Users are reported, never matched: nearly every container runs as root. The empty file's
hash is never an indicator: every empty file has it.

Generic names. A process name that every base image ships (``GENERIC_NAMES``: shells, interpreters,
coreutils, the usual network tools, container init shims) would relate every container to every
other, so such a name never relates two containers by itself, and neither does its path when it
sits in a system directory (``SYSTEM_DIRS``: ``/usr/bin/python3``). The same name anywhere else
(``/tmp/sh``, ``/dev/shm/python3``) is not generic: a program dropped outside the system
directories under a common name is exactly what a masquerade looks like, and its path relates.
Tools an adversary favours (curl, wget, nc, socat) are in the list too: health checks and
entrypoints run them everywhere, so a match on the name alone says nothing; the destination they
called is what relates.

Blind spots: a hash relates only where some sensor hashed the file in the other container (the FIM
sensor hashes its watched paths; nothing hashes every executable), so the same binary dropped under
another path in another container relates only through its destinations or its non-generic name.
A program of the image itself (``/usr/sbin/nginx``) relates every container of that image: the
match is listed, and reads as "runs the same program", not as compromise.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from detectors.event import Event
from harness.response.window import EventWindow, destination_of, is_loopback, redirect_of

# Names every base image ships and every container runs: see the module docstring for why they
# never relate two containers on their own.
GENERIC_NAMES = frozenset({
    # shells and interpreters
    "sh", "bash", "dash", "ash", "zsh", "busybox", "python", "python3", "perl", "ruby", "node", "php", "lua", "java",
    # coreutils and friends, which scripts and health checks run constantly
    "sleep", "cat", "echo", "env", "true", "false", "ls", "ps", "grep", "sed", "awk", "head", "tail", "tee", "cp",
    "mv", "rm", "mkdir", "chmod", "chown", "ln", "test", "[", "id", "whoami", "uname", "date", "sort", "uniq", "wc",
    "cut", "tr", "xargs", "find", "tar", "gzip", "base64", "stat", "touch", "dirname", "basename", "readlink",
    "printf", "timeout", "nohup", "su", "sudo", "kill", "mount", "hostname", "getent",
    # network tools of every image's health checks and entrypoints
    "curl", "wget", "nc", "ncat", "socat", "ping", "nslookup", "dig", "ip", "iptables", "ssh",
    # container init shims and the runtime's own helpers
    "tini", "dumb-init", "docker-init", "init", "runc", "runc:[2:INIT]", "containerd-shim",
})
# Versioned interpreters: python3.11, perl5.36, node18, php8.2.
_GENERIC_VERSIONED = re.compile(r"^(python|perl|ruby|php|node|lua|java)[\d.]+$")
# The empty file's sha256: any empty file anywhere (a placeholder, a lock, a truncated log) has it, so
# it relates everything and identifies nothing.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SYSTEM_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/lib", "/lib64",
               "/usr/lib", "/usr/lib64", "/usr/libexec")


def is_generic_name(name: str) -> bool:
    # A bare number is what a program run from a file descriptor is called (its name is the fd's).
    return name in GENERIC_NAMES or bool(_GENERIC_VERSIONED.match(name)) or name.isdigit()


# A program run from a file descriptor (fexecve, the runtime's own re-exec through /proc/self/fd or
# /dev/fd): the path names a descriptor number, the same in every container, not a program.
_FD_PATHS = ("/dev/fd/", "/proc/self/fd/")


def is_generic_path(path: str) -> bool:
    """A generic name in a system directory (or under /usr/lib, where interpreters' real files live),
    or a descriptor path."""
    if path.startswith(_FD_PATHS):
        return True
    directory, name = posixpath.split(path)
    return is_generic_name(name) and (directory in SYSTEM_DIRS or directory.startswith("/usr/lib/"))


@dataclass(frozen=True, slots=True)
class Indicators:
    destinations: tuple[str, ...] = ()  # "ip:port/proto" the container sent to (or redirected to), loopback left out
    sha256: tuple[str, ...] = ()  # of files it dropped or changed (and files a sensor hashed for it)
    executables: tuple[str, ...] = ()  # paths of the programs it ran, as the container sees them
    process_names: tuple[str, ...] = ()  # their names (comm)
    users: tuple[str, ...] = ()  # who they ran as: reported, never matched
    # "ip:port/proto" where it accepted connections: whoever else called them talked to it (a
    # relay's clients, an implant's operator on the LAN), the pivot that finds a second workload.
    served: tuple[str, ...] = ()

    # Lab.plant's vocabulary ("destination", "sha256", "process" path), for the harness comparing
    # what a scenario planted with what the bundle holds.
    @property
    def hashes(self) -> tuple[str, ...]:
        return self.sha256

    @property
    def processes(self) -> tuple[str, ...]:
        return self.executables

    def planted_form(self) -> set[str]:
        """Every indicator as ``kind:value`` with Lab.plant's kinds (``destination``, ``sha256``, ``process``)."""
        return ({f"destination:{d}" for d in self.destinations} | {f"sha256:{h}" for h in self.sha256}
                | {f"process:{p}" for p in self.executables})

    def to_dict(self) -> dict[str, list[str]]:
        return {"destinations": list(self.destinations), "sha256": list(self.sha256),
                "executables": list(self.executables), "process_names": list(self.process_names),
                "users": list(self.users), "served": list(self.served)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Indicators:
        return cls(*(tuple(data.get(key) or ()) for key in ("destinations", "sha256", "executables", "process_names",
                                                            "users", "served")))


@dataclass(frozen=True, slots=True)
class Related:
    container_id: str
    matched: list[str]  # "destination:<ip:port/proto>", "sha256:<hex>", "executable:<path>", "process.name:<name>"
    container_name: str = ""  # as the events named it, for the reader
    events: int = 0  # how many of its events matched

    def to_dict(self) -> dict[str, Any]:
        return {"container_id": self.container_id, "container_name": self.container_name,
                "matched": list(self.matched), "events": self.events}


@dataclass(slots=True)
class _Found:
    destinations: set[str] = field(default_factory=set)
    sha256: set[str] = field(default_factory=set)
    executables: set[str] = field(default_factory=set)
    process_names: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    served: set[str] = field(default_factory=set)

    def add_event(self, event: Event) -> None:
        for dest in (destination_of(event), redirect_of(event)):
            if dest and not is_loopback(dest):
                self.destinations.add(dest)
        _add_str(self.sha256, event.get("file.hash.sha256"))
        _add_str(self.executables, event.get("process.executable"))
        _add_str(self.executables, event.get("process.loaded_program"))
        _add_str(self.process_names, event.get("process.name"))
        _add_str(self.users, event.get("user.name"))


def _add_str(into: set[str], value: Any) -> None:
    if isinstance(value, str) and value:
        into.add(value)


def _json(contents: Mapping[str, bytes], name: str) -> Any:
    """A member's JSON, or None when the bundle lacks it or it does not parse (the manifest says why)."""
    data = contents.get(name)
    if data is None:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def indicators_of(contents: Mapping[str, bytes]) -> Indicators:
    """The indicators in a bundle's members (name -> bytes, as ``evidence.read_members`` returns them).
    A member the bundle lacks contributes nothing; it never raises on one that is malformed."""
    found = _Found()
    for line in (contents.get("events.jsonl") or b"").splitlines():
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            found.add_event(event)
    flows = _json(contents, "flows.json")
    for flow in flows if isinstance(flows, list) else []:
        dest = flow.get("destination") if isinstance(flow, dict) else None
        if isinstance(dest, str) and not is_loopback(dest):
            (found.served if flow.get("direction") == "ingress" else found.destinations).add(dest)
    dropped = _json(contents, "dropped-files.json")
    for entry in (dropped.get("files") or []) if isinstance(dropped, dict) else []:
        if isinstance(entry, dict):
            _add_str(found.sha256, entry.get("sha256"))
    processes = _json(contents, "processes.json")
    for process in (processes.get("processes") or []) if isinstance(processes, dict) else []:
        if isinstance(process, dict):
            _add_str(found.executables, process.get("executable"))
            _add_str(found.process_names, process.get("name"))
            _add_str(found.users, process.get("user"))
    inspect = _json(contents, "inspect.json")
    if isinstance(inspect, dict):
        _add_str(found.users, (inspect.get("Config") or {}).get("User"))
    found.sha256.discard(EMPTY_SHA256)
    return Indicators(tuple(sorted(found.destinations)), tuple(sorted(found.sha256)),
                      tuple(sorted(found.executables)), tuple(sorted(found.process_names)),
                      tuple(sorted(found.users)), tuple(sorted(found.served)))


def _matches(indicators: Indicators) -> dict[str, set[str]]:
    """What may relate a container, by kind; generic names and paths taken out (see the module doc)."""
    return {
        "destination": {d for d in indicators.destinations if not is_loopback(d)},
        "sha256": set(indicators.sha256) - {EMPTY_SHA256},
        "executable": {p for p in indicators.executables if not is_generic_path(p)},
        "process.name": {n for n in indicators.process_names if not is_generic_name(n)},
        "served": {d for d in indicators.served if not is_loopback(d)},
    }


def _event_values(event: Event) -> Iterable[tuple[str, Any]]:
    yield "destination", destination_of(event)
    yield "served", destination_of(event)  # it called one of the bundle container's own endpoints
    yield "destination", redirect_of(event)
    yield "sha256", event.get("file.hash.sha256")
    yield "executable", event.get("process.executable")
    yield "executable", event.get("process.loaded_program")
    yield "process.name", event.get("process.name")


def cross_reference(indicators: Indicators, window: EventWindow, exclude_container: str) -> list[Related]:
    """Other containers in ``window`` whose events touched any of ``indicators`` (a destination, a
    hash, a non-generic executable or process name), each with what it matched; most matches first.
    ``exclude_container`` (the bundle's own, full id or a prefix of it) is never listed."""
    wanted = _matches(indicators)
    related = []
    for container_id in window.all_containers():
        if exclude_container and container_id.startswith(exclude_container):
            continue
        matched: set[str] = set()
        hits = 0
        name = ""
        for event in window.events_for(container_id):
            name = name or str(event.get("container.name") or "")
            hit = False
            for kind, value in _event_values(event):
                if isinstance(value, str) and value in wanted[kind]:
                    matched.add(f"{kind}:{value}")
                    hit = True
            hits += hit
        if matched:
            related.append(Related(container_id, sorted(matched), name, hits))
    related.sort(key=lambda r: (-len(r.matched), r.container_id))
    return related
