"""Reading an auditd log: records grouped into events, and events into alerts (one per audit key)."""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass

from harness.external.alert import ExternalAlert

EVENT_TIMEOUT_S = 2.0  # auditd.conf's end_of_event_timeout default: auparse's rule for an event without EOE
MAX_PENDING = 512  # open events kept; past it the oldest is taken as complete (bounded memory)
RECENTLY_DONE = 2048  # ids of completed events remembered, so a straggling record makes no ghost event
AUID_UNSET = 4294967295  # (uint32)-1: no login uid

_HEADER = re.compile(r"^(?:node=(?P<node>\S+) )?type=(?P<type>\S+) msg=audit\((?P<time>\d+\.\d+):(?P<serial>\d+)\):\s?")
_FIELD = re.compile(r"""(?P<name>[A-Za-z0-9_\-\[\]]+)=(?P<value>"[^"]*"|'[^']*'|\S*)""")
_HEX = re.compile(r"^(?:[0-9A-F]{2})+$")
_EXECVE_ARG = re.compile(r"^a\d+(?:\[\d+\])?$")
_ENRICHED_SEPARATOR = "\x1d"  # ENRICHED format: the interpreted fields follow this group separator
_KEY_SEPARATOR = "\x01"  # auditctl joins several -k keys of one rule with it (and the kernel hex-encodes)

# Fields the kernel and the audit tools write with audit_log_untrustedstring: quoted when printable,
# hex-encoded when the value holds a space, a quote or a control character.
_ENCODED_FIELDS = frozenset({"comm", "exe", "name", "cwd", "key", "proctitle", "data", "path", "cmd",
                             "acct", "ocomm", "dir", "watch", "new", "old", "root_dir"})
# Messages sent by user space (PAM, auditd, auditctl -m): one record each, nothing follows them.
# Kernel records, even in these number ranges, may share a syscall's event: they wait for its end.
_USERSPACE_PREFIXES = ("USER_", "DAEMON_", "CRED_", "ACCT_", "SERVICE_", "SYSTEM_", "RESP_", "CRYPTO_",
                       "VIRT_", "GRP_", "ROLE_", "LABEL_", "ANOM_")
_KERNEL_ANOMALIES = frozenset({"ANOM_PROMISCUOUS", "ANOM_ABEND", "ANOM_LINK", "ANOM_CREAT"})
_USERSPACE_NAMES = frozenset({"ADD_USER", "DEL_USER", "ADD_GROUP", "DEL_GROUP", "CHGRP_ID", "CHUSER_ID",
                              "TRUSTED_APP", "USYS_CONFIG", "DEV_ALLOC", "DEV_DEALLOC", "FS_RELABEL",
                              "SOFTWARE_UPDATE", "TEST"})
_UNKNOWN_TYPE = re.compile(r"^UNKNOWN\[(\d+)\]$")
# The kernel writes PROCTITLE last in a syscall event, then EOE; auditd keeps EOE out of its log.
_LAST_RECORD_TYPES = frozenset({"PROCTITLE", "EOE"})


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One line of the log: its type, its event's stamp, its fields with strings decoded, and
    (ENRICHED format) the interpreted fields auditd appended (``AUID``: "root", ``SYSCALL``: "setns")."""

    type: str
    time: float
    serial: int
    stamp: str  # "<epoch>.<ms>:<serial>" as written: what makes records one event
    fields: dict[str, str]
    interpreted: dict[str, str]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    serial: int
    time: float  # epoch seconds, from the stamp
    record_types: tuple[str, ...]  # in the order the records came ("SYSCALL", "PROCTITLE", "EOE")
    keys: tuple[str, ...]  # keys of the rules that matched (not those a CONFIG_CHANGE adds or removes)
    pid: int = 0
    ppid: int = 0
    uid: int | None = None
    auid: int | None = None  # None when unset (4294967295): no login session behind the process
    exe: str = ""
    comm: str = ""
    syscall: int | str | None = None  # the name where the log says it (ENRICHED), else the number
    success: bool | None = None
    proctitle: str = ""  # the command line, arguments joined by spaces (the kernel cuts it at 128 bytes)
    cwd: str = ""
    paths: tuple[str, ...] = ()  # the PATH records' names but parent directories', in item order


def _decode_hex(value: str) -> str:
    return bytes.fromhex(value).decode("utf-8", errors="backslashreplace")


def _value(name: str, raw: str, record_type: str) -> str | None:
    """A field's value as the process gave it: quotes removed, hex decoded; None for ``(null)``."""
    if raw == "(null)":
        return None
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    encoded = name in _ENCODED_FIELDS or (record_type == "EXECVE" and _EXECVE_ARG.match(name) is not None)
    if encoded and _HEX.match(raw):
        return _decode_hex(raw)
    return raw


def _fields(text: str, record_type: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(text):
        name, raw = match["name"], match["value"]
        value = _value(name, raw, record_type)
        if value is None:
            continue
        fields.setdefault(name, value)
        if raw.startswith("'") and name == "msg":
            # A user-space message nests its own fields (msg='op=PAM:session_open acct="root" exe=...').
            for inner, inner_value in _fields(value, record_type).items():
                fields.setdefault(inner, inner_value)
    return fields


def parse_record(line: str) -> AuditRecord | None:
    """One log line as a record; None for a line that is not an audit record (blank, cut short)."""
    header = _HEADER.match(line)
    if header is None:
        return None
    raw, _, enriched = line[header.end():].rstrip("\n").partition(_ENRICHED_SEPARATOR)
    record_type = header["type"]
    interpreted = {k: v for k, v in _fields(enriched, record_type).items() if k.isupper()}
    stamp = f"{header['time']}:{header['serial']}"
    return AuditRecord(type=record_type, time=float(header["time"]), serial=int(header["serial"]), stamp=stamp,
                       fields=_fields(raw, record_type), interpreted=interpreted)


def _is_single_record(record_type: str) -> bool:
    unknown = _UNKNOWN_TYPE.match(record_type)
    if unknown is not None:  # a type this auditd has no name for: user-space message ranges only
        number = int(unknown[1])
        return 1100 <= number <= 1299 or 2100 <= number <= 2999
    if record_type in _KERNEL_ANOMALIES:
        return False
    return record_type in _USERSPACE_NAMES or record_type.startswith(_USERSPACE_PREFIXES)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0) if value.startswith("0x") else int(value)
    except ValueError:
        return None


def _keys(records: Sequence[AuditRecord]) -> tuple[str, ...]:
    keys: list[str] = []
    for record in records:
        if record.type == "CONFIG_CHANGE":  # its key names the rule being added or removed, not a match
            continue
        for key in record.fields.get("key", "").split(_KEY_SEPARATOR):
            if key and key not in keys:
                keys.append(key)
    return tuple(keys)


def _first(records: Sequence[AuditRecord], name: str) -> str | None:
    return next((r.fields[name] for r in records if name in r.fields), None)


def _syscall(primary: AuditRecord) -> int | str | None:
    name = primary.interpreted.get("SYSCALL")
    if name:
        return name
    return _int(primary.fields.get("syscall"))


def _proctitle(records: Sequence[AuditRecord]) -> str:
    title = next((r.fields.get("proctitle", "") for r in records if r.type == "PROCTITLE"), "")
    return title.replace("\x00", " ").strip()


def make_event(records: Sequence[AuditRecord]) -> AuditEvent:
    """The event the records of one stamp describe. The SYSCALL record, where there is one, says
    who did it; otherwise the first record naming a field does."""
    primary = next((r for r in records if r.type == "SYSCALL"), records[0])
    ordered = [primary, *(r for r in records if r is not primary)]
    success = primary.fields.get("success")
    auid = _int(_first(ordered, "auid"))
    return AuditEvent(
        serial=primary.serial, time=primary.time, record_types=tuple(r.type for r in records), keys=_keys(records),
        pid=_int(_first(ordered, "pid")) or 0, ppid=_int(_first(ordered, "ppid")) or 0,
        uid=_int(_first(ordered, "uid")), auid=None if auid in (AUID_UNSET, -1) else auid,
        exe=_first(ordered, "exe") or "", comm=_first(ordered, "comm") or "", syscall=_syscall(primary),
        success=None if success is None else success == "yes", proctitle=_proctitle(records),
        cwd=next((r.fields.get("cwd", "") for r in records if r.type == "CWD"), ""),
        paths=tuple(r.fields["name"] for r in records
                    if r.type == "PATH" and "name" in r.fields and r.fields.get("nametype") != "PARENT"))


@dataclass(slots=True)
class _Open:
    records: list[AuditRecord]
    touched: float  # when its last record came: on the log's clock, or the reader's when live


class EventAssembler:
    """Records in, complete events out, with at most ``MAX_PENDING`` events open at a time."""

    def __init__(self, timeout: float = EVENT_TIMEOUT_S, max_pending: int = MAX_PENDING) -> None:
        self.timeout, self.max_pending = timeout, max_pending
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._done: deque[str] = deque(maxlen=RECENTLY_DONE)
        self._done_set: set[str] = set()

    def feed(self, record: AuditRecord, now: float | None = None) -> list[AuditEvent]:
        """Add a record; the events it completes. ``now`` (default: the record's own time) is the
        clock the timeout counts on: a live reader passes its own, so a slow writer ends nothing early."""
        clock = record.time if now is None else now
        if record.stamp in self._done_set:
            return []  # a straggler of an event already given out
        complete: list[AuditEvent] = []
        if record.stamp not in self._open and _is_single_record(record.type):
            complete.append(self._close(record.stamp, [record]))
        elif record.type in _LAST_RECORD_TYPES:
            opened = self._open.pop(record.stamp, None)
            complete.append(self._close(record.stamp, [*(opened.records if opened else []), record]))
        else:
            opened = self._open.setdefault(record.stamp, _Open([], clock))
            opened.records.append(record)
            opened.touched = clock
            self._open.move_to_end(record.stamp)
        complete.extend(self.expire(clock))
        while len(self._open) > self.max_pending:
            stamp, oldest = self._open.popitem(last=False)
            complete.append(self._close(stamp, oldest.records))
        return complete

    def expire(self, now: float) -> list[AuditEvent]:
        """Events that had no record for ``timeout`` seconds before ``now``: taken as complete."""
        stale = [stamp for stamp, opened in self._open.items() if now - opened.touched > self.timeout]
        return [self._close(stamp, self._open.pop(stamp).records) for stamp in stale]

    def flush(self) -> list[AuditEvent]:
        """Every open event, as it is (the end of the input)."""
        stamps = list(self._open)
        return [self._close(stamp, self._open.pop(stamp).records) for stamp in stamps]

    def _close(self, stamp: str, records: list[AuditRecord]) -> AuditEvent:
        if len(self._done) == self._done.maxlen:
            self._done_set.discard(self._done[0])
        self._done.append(stamp)
        self._done_set.add(stamp)
        return make_event(records)


def parse_audit_lines(lines: Iterable[str]) -> Iterator[AuditEvent]:
    """The events of an auditd log, in the order they complete; lines that are not audit records are
    skipped. Lines as a file iterates them: split at newlines only, not with ``str.splitlines()``,
    which also splits at the \\x1d before ENRICHED's interpreted fields."""
    assembler = EventAssembler()
    for line in lines:
        record = parse_record(line)
        if record is not None:
            yield from assembler.feed(record)
    yield from assembler.flush()


def summary(event: AuditEvent, key: str) -> str:
    parts = [f"key={key}"]
    if event.syscall is not None:
        parts.append(f"syscall={event.syscall}")
    parts.append(f'exe="{event.exe}" comm="{event.comm}"')
    if event.success is False:
        parts.append("success=no")
    if event.paths:  # the file a watch saw, or the program an execve ran (before its interpreter)
        parts.append(f'name="{event.paths[0]}"')
    return " ".join(parts)


def to_alerts(event: AuditEvent, detector: str = "auditd", *,
              own: Collection[tuple[int, str]] = ()) -> list[ExternalAlert]:
    """One alert per key of the event (the rule is the key). None for an event without a key, for
    auditd's own records (DAEMON_*), and for an event of a process in ``own`` (pid, exe): the
    auditctl runs and the daemon of the detector itself."""
    if not event.keys or any(t.startswith("DAEMON_") for t in event.record_types):
        return []
    if (event.pid, event.exe) in own:
        return []
    return [ExternalAlert(detector=detector, rule=key, time=event.time, summary=summary(event, key),
                          pid=event.pid, ppid=event.ppid, source=f"auditd:{event.serial}")
            for key in event.keys]


