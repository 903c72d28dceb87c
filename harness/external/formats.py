"""Format adapters: one record of another detector's output -> ``ExternalAlert``.

Each adapter reads one decoded JSON record and keeps only what the harness needs to judge it: the
rule, the time, and what the record says about *where* it fired (container id, pod, host pids).
Attribution hangs on those fields, so the adapters are strict about them: a container id that is not
12 to 64 hex digits, a time that is not RFC 3339, a pid that is not a number, raise
``AlertFormatError`` with the field's path in the message, rather than yield an alert that would
silently attribute to nothing. Fields a tool legitimately leaves empty ("host", null, ``<NA>``)
read as "not given".

An adapter returns None for a valid record that is not an alert (an ECS ``event.kind: event``, a
Tetragon rate-limit notice); every other record is an alert or an error.

The formats, and the documents they were read from:

- ``falco``: Falco's JSON output (``json_output: true``; also the body of its HTTP output), as in
  falco.org "Output Channels" (JSON Output) and "Supported Fields" (container.*, k8s.*, proc.*).
- ``tetragon``: Tetragon's JSON export, one ``GetEventsResponse`` per line with protobuf field
  names (cilium/tetragon api/v1/tetragon/events.proto and tetragon.proto; tetragon.io "Events").
- ``ecs``: an Elastic Common Schema alert document, nested or with flat dotted keys (ECS reference:
  event, rule, container, process, orchestrator; and Elastic's ``kubernetes.*`` fields).
- ``generic``: Stowaway's own form for anything else, a flat object with the ``GENERIC_FIELDS``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from harness.external.alert import AlertFormatError, ExternalAlert

__all__ = [
    "FORMATS",
    "GENERIC_FIELDS",
    "detect_format",
    "parse_ecs",
    "parse_falco",
    "parse_generic",
    "parse_record",
    "parse_tetragon",
    "rfc3339_epoch",
]

Parser = Callable[[dict[str, Any], str], ExternalAlert | None]

_MISSING: Final = object()

# -- shared field readers ---------------------------------------------------------------------------

_RFC3339 = re.compile(
    # [0-9], not \d: \d also matches other scripts' digits, which no timestamp writer emits.
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?"
    r"(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<hours>[0-9]{2}):(?P<minutes>[0-9]{2}))"
)


def rfc3339_epoch(text: str, field: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp with up to 9 fractional digits and ``Z`` or an offset.

    Written out because ``datetime.fromisoformat`` (3.11) rejects nanoseconds, which Falco and
    Tetragon both write. A float keeps about a microsecond at today's epoch: enough for a time window.

    Raises:
        AlertFormatError: naming ``field`` when ``text`` is not such a timestamp.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise AlertFormatError(f"{field}: {text!r} is not an RFC 3339 time")
    offset = timedelta(0)
    if match["sign"]:
        offset = timedelta(hours=int(match["hours"]), minutes=int(match["minutes"]))
        if match["sign"] == "-":
            offset = -offset
    try:
        whole = datetime.fromisoformat(f"{match['date']}T{match['time']}").replace(tzinfo=timezone(offset))
    except ValueError as error:  # month 13, 25 o'clock, an offset of a day or more
        raise AlertFormatError(f"{field}: {text!r} is not an RFC 3339 time ({error})") from None
    fraction = match["fraction"] or ""
    return whole.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _time(value: Any, field: str, epoch_ok: bool = False) -> float:
    if isinstance(value, str):
        return rfc3339_epoch(value, field)
    # bool is an int to Python, never a time to anyone.
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if epoch_ok and is_number and math.isfinite(value) and value >= 0:
        return float(value)
    wanted = "epoch seconds or an RFC 3339 string" if epoch_ok else "an RFC 3339 string"
    raise AlertFormatError(f"{field}: {value!r} is not a time ({wanted})")


def _absent(value: Any) -> bool:
    # Falco writes null for a field it could not resolve, older releases the string "<NA>".
    return value is _MISSING or value is None or value == "" or value == "<NA>"


def _text(value: Any, field: str) -> str:
    if _absent(value):
        return ""
    if isinstance(value, str):
        return value
    raise AlertFormatError(f"{field}: {value!r} is not a string")


def _required_text(value: Any, field: str) -> str:
    if _absent(value):
        raise AlertFormatError(f"{field}: missing")
    return _text(value, field)


def _required(value: Any, field: str) -> Any:
    if value is _MISSING or value is None:
        raise AlertFormatError(f"{field}: missing")
    return value


def _pid(value: Any, field: str) -> int:
    """A host pid, 0 when not given. Numbers may arrive as decimal strings (log shippers re-type)."""
    if _absent(value):
        return 0
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value == -1:  # how the Falco libraries write an id they do not know
            return 0
        if value >= 0:
            return value
    raise AlertFormatError(f"{field}: {value!r} is not a process id")


_RUNTIME_PREFIXES: Final = ("containerd://", "docker://", "cri-o://")
_CONTAINER_ID = re.compile(r"[0-9a-f]{12,64}")


def _container_id(value: Any, field: str) -> str:
    """A container id without its runtime prefix, lower-case; "" when not given.

    Fewer than 12 hex digits could match several containers, so it is an error, not a guess.
    """
    if _absent(value):
        return ""
    if isinstance(value, str):
        runtime = next((prefix for prefix in _RUNTIME_PREFIXES if value.startswith(prefix)), "")
        bare = value.removeprefix(runtime).lower()
        if _CONTAINER_ID.fullmatch(bare):
            return bare
    raise AlertFormatError(f"{field}: {value!r} is not a container id")


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if _absent(value):
        return {}
    if isinstance(value, Mapping):
        return value
    raise AlertFormatError(f"{field}: expected an object, got {type(value).__name__}")


def _keyword(value: Any, field: str) -> str:
    """A keyword some producers write as a number (ECS rule.id, event.severity)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return _text(value, field)


def _record(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise AlertFormatError(f"record: expected a JSON object, got {type(record).__name__}")
    return record


# -- Falco ------------------------------------------------------------------------------------------

def parse_falco(record: dict[str, Any], detector: str = "falco") -> ExternalAlert:
    """One Falco alert (``json_output: true``). Every Falco record is an alert.

    The container is ``container.full_id`` when Falco had resolved it, else the 12-digit
    ``container.id``; "host" means the process is not in a container. Pids are host pids
    (``proc.pid``, ``proc.ppid``); ``proc.vpid`` is the in-container pid and is not used.

    Raises:
        AlertFormatError: naming the field, for a missing ``rule`` or ``time`` or a malformed field.
    """
    record = _record(record)
    fields = _object(record.get("output_fields", _MISSING), "output_fields")
    return ExternalAlert(
        detector=detector,
        rule=_required_text(record.get("rule", _MISSING), "rule"),
        time=_time(_required(record.get("time", _MISSING), "time"), "time"),
        severity=_text(record.get("priority"), "priority"),
        summary=_text(record.get("output"), "output"),
        container_id=_falco_container(fields),
        pod_namespace=_text(fields.get("k8s.ns.name"), "output_fields.k8s.ns.name"),
        pod_name=_text(fields.get("k8s.pod.name"), "output_fields.k8s.pod.name"),
        pid=_pid(fields.get("proc.pid", _MISSING), "output_fields.proc.pid"),
        ppid=_pid(fields.get("proc.ppid", _MISSING), "output_fields.proc.ppid"),
    )


def _falco_container(fields: Mapping[str, Any]) -> str:
    short_value = fields.get("container.id", _MISSING)
    if short_value == "host":
        return ""
    short = _container_id(short_value, "output_fields.container.id")
    full = _container_id(fields.get("container.full_id", _MISSING), "output_fields.container.full_id")
    # Two ids for two containers would attribute the alert to whichever the harness tried first.
    if full and short and not full.startswith(short):
        raise AlertFormatError(f"output_fields.container.full_id: {full!r} does not extend "
                               f"output_fields.container.id {short!r}")
    return full or short


# -- Tetragon ---------------------------------------------------------------------------------------

# The oneof ``event`` of GetEventsResponse (events.proto). Each of these concerns a process; a user
# who exports them has already filtered the stream to what they call alerts (export filters, or
# tracing policies), so every one of them counts as an alert, process_exec and process_exit included.
TETRAGON_ALERT_EVENTS: Final = (
    "process_exec", "process_exit", "process_kprobe", "process_tracepoint", "process_uprobe",
    "process_lsm", "process_usdt",
)
# Tetragon's reports about itself (loaded objects, throttling, dropped events): valid, not alerts.
TETRAGON_OTHER_EVENTS: Final = ("process_loader", "process_throttle", "rate_limit_info", "test")

# Where a tracing-policy event names what fired: the policy, else the hook.
_TETRAGON_RULE_FIELDS: Final = ("policy_name", "function_name", "symbol")


def parse_tetragon(record: dict[str, Any], detector: str = "tetragon") -> ExternalAlert | None:
    """One line of Tetragon's JSON export; None for Tetragon's reports about itself.

    The rule is the tracing policy's name (falling back to the hooked function or symbol), or the
    event type for events no policy made (``process_exec``, ``process_exit``). The container is the
    pod's full id when Tetragon knew the pod, else the ``docker`` id prefix; the parent pid comes
    from the event's ``parent`` process.

    Raises:
        AlertFormatError: naming the field, for a record with no (or several) event keys, a missing
        ``time`` or a malformed field.
    """
    record = _record(record)
    kind = _tetragon_kind(record)
    if kind in TETRAGON_OTHER_EVENTS:
        return None
    event = _object(record[kind], kind)
    process = _object(event.get("process", _MISSING), f"{kind}.process")
    parent = _object(event.get("parent", _MISSING), f"{kind}.parent")
    pod = _object(process.get("pod", _MISSING), f"{kind}.process.pod")
    return ExternalAlert(
        detector=detector,
        rule=_tetragon_rule(kind, event),
        time=_time(_required(record.get("time", _MISSING), "time"), "time"),
        summary=_tetragon_summary(kind, event, process),
        container_id=_tetragon_container(process, f"{kind}.process"),
        pod_namespace=_text(pod.get("namespace"), f"{kind}.process.pod.namespace"),
        pod_name=_text(pod.get("name"), f"{kind}.process.pod.name"),
        pid=_pid(process.get("pid", _MISSING), f"{kind}.process.pid"),
        ppid=_pid(parent.get("pid", _MISSING), f"{kind}.parent.pid"),
    )


def _tetragon_kind(record: Mapping[str, Any]) -> str:
    kinds = [key for key in (*TETRAGON_ALERT_EVENTS, *TETRAGON_OTHER_EVENTS) if key in record]
    if len(kinds) != 1:
        found = ", ".join(kinds) or "none"
        raise AlertFormatError(f"record: expected exactly one Tetragon event key "
                               f"({', '.join(TETRAGON_ALERT_EVENTS)}), found {found}")
    return kinds[0]


def _tetragon_rule(kind: str, event: Mapping[str, Any]) -> str:
    for name in _TETRAGON_RULE_FIELDS:
        rule = _text(event.get(name), f"{kind}.{name}")
        if rule:
            return rule
    return kind


def _tetragon_summary(kind: str, event: Mapping[str, Any], process: Mapping[str, Any]) -> str:
    # The policy's message says what it means; without one, the command line says what ran.
    message = _text(event.get("message"), f"{kind}.message")
    binary = _text(process.get("binary"), f"{kind}.process.binary")
    arguments = _text(process.get("arguments"), f"{kind}.process.arguments")
    detail = message or " ".join(part for part in (binary, arguments) if part)
    return f"{kind}: {detail}" if detail else kind


def _tetragon_container(process: Mapping[str, Any], field: str) -> str:
    pod = _object(process.get("pod", _MISSING), f"{field}.pod")
    container = _object(pod.get("container", _MISSING), f"{field}.pod.container")
    full = _container_id(container.get("id", _MISSING), f"{field}.pod.container.id")
    return full or _container_id(process.get("docker", _MISSING), f"{field}.docker")



# -- ECS --------------------------------------------------------------------------------------------

# event.kind values ECS allows that are not an alert from an outside detector.
ECS_NOT_ALERT_KINDS: Final = ("asset", "enrichment", "event", "metric", "state", "pipeline_error")


def _ecs(record: Mapping[str, Any], field: str) -> Any:
    """The value at a dotted ECS path, whether the record nests it, flattens it, or mixes both."""
    return _lookup(record, field.split("."))


def _lookup(node: Mapping[str, Any], parts: list[str]) -> Any:
    # The longest key first: {"kubernetes.pod": {"name": ...}} and {"kubernetes": {"pod.name": ...}}
    # are both seen in documents that went through more than one shipper.
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut])
        if key not in node:
            continue
        if cut == len(parts):
            return node[key]
        child = node[key]
        if isinstance(child, Mapping):
            found = _lookup(child, parts[cut:])
            if found is not _MISSING:
                return found
    return _MISSING


def parse_ecs(record: dict[str, Any], detector: str = "ecs") -> ExternalAlert | None:
    """One ECS document; None when ``event.kind`` says it is not an alert.

    ``event.kind: signal`` (Kibana's own alert documents, which keep their rule under
    ``kibana.alert.rule.*``) is an error rather than None: skipping it would grade a SIEM as silent.

    Raises:
        AlertFormatError: naming the field, for a missing or unknown ``event.kind``, an alert with
        no ``rule.id`` or ``rule.name``, a missing ``@timestamp`` or a malformed field.
    """
    record = _record(record)
    if not _ecs_is_alert(record):
        return None
    namespace, pod = _ecs_pod(record)
    return ExternalAlert(
        detector=detector,
        rule=_ecs_rule(record),
        time=_time(_required(_ecs(record, "@timestamp"), "@timestamp"), "@timestamp"),
        severity=_ecs_severity(record),
        summary=_ecs_text(record, "message") or _ecs_text(record, "rule.name"),
        container_id=_container_id(_ecs(record, "container.id"), "container.id"),
        pod_namespace=namespace,
        pod_name=pod,
        pid=_pid(_ecs(record, "process.pid"), "process.pid"),
        ppid=_pid(_ecs(record, "process.parent.pid"), "process.parent.pid"),
    )


def _ecs_text(record: Mapping[str, Any], field: str) -> str:
    return _text(_ecs(record, field), field)


def _ecs_is_alert(record: Mapping[str, Any]) -> bool:
    kind = _ecs(record, "event.kind")
    if kind == "alert":
        return True
    if kind in ECS_NOT_ALERT_KINDS:
        return False
    if kind == "signal":
        raise AlertFormatError("event.kind: 'signal' is a Kibana alert document, not an ECS alert "
                               "(export the detector's own alerts, or use the generic form)")
    if kind is _MISSING:
        raise AlertFormatError("event.kind: missing (an ECS alert has event.kind: alert)")
    raise AlertFormatError(f"event.kind: {kind!r} is not an ECS event kind")


def _ecs_rule(record: Mapping[str, Any]) -> str:
    for field in ("rule.id", "rule.name"):
        rule = _keyword(_ecs(record, field), field)
        if rule:
            return rule
    raise AlertFormatError("rule.id: missing (and no rule.name)")


def _ecs_severity(record: Mapping[str, Any]) -> str:
    # event.severity is the producer's own number; kept as written, the harness does not rank it.
    return _keyword(_ecs(record, "event.severity"), "event.severity") or _ecs_text(record, "log.level")


def _ecs_pod(record: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, pod name): Elastic's ``kubernetes.*`` fields, else ECS ``orchestrator.*``.

    An orchestrator resource that is not a pod (a deployment, a service) names no pod, and its
    namespace alone is not a workload the harness can attribute to.
    """
    namespace = _ecs_text(record, "kubernetes.namespace")
    pod = _ecs_text(record, "kubernetes.pod.name")
    if namespace or pod:
        return namespace, pod
    if _ecs_text(record, "orchestrator.resource.type").lower() != "pod":
        return "", ""
    return _ecs_text(record, "orchestrator.namespace"), _ecs_text(record, "orchestrator.resource.name")


# -- the generic form -------------------------------------------------------------------------------

GENERIC_FIELDS: Final = ("rule", "time", "detector", "severity", "summary", "container_id", "pod_namespace",
                         "pod_name", "pid", "ppid")


def parse_generic(record: dict[str, Any], detector: str) -> ExternalAlert:
    """Stowaway's generic form: ``rule`` and ``time`` (epoch seconds or RFC 3339) are required, the
    other ``GENERIC_FIELDS`` optional. A ``detector`` in the record overrides the argument, so that
    one file can carry several tools' alerts.

    Raises:
        AlertFormatError: naming the field, for an unknown key (a misspelt ``container_id`` would
        otherwise drop the alert's attribution without a word), a missing ``rule`` or ``time``, or
        a malformed field.
    """
    record = _record(record)
    for key in record:
        if key not in GENERIC_FIELDS:
            raise AlertFormatError(f"{key}: unknown field of the generic form (known: {', '.join(GENERIC_FIELDS)})")
    return ExternalAlert(
        detector=_text(record.get("detector"), "detector") or detector,
        rule=_required_text(record.get("rule", _MISSING), "rule"),
        time=_time(_required(record.get("time", _MISSING), "time"), "time", epoch_ok=True),
        severity=_text(record.get("severity"), "severity"),
        summary=_text(record.get("summary"), "summary"),
        container_id=_container_id(record.get("container_id", _MISSING), "container_id"),
        pod_namespace=_text(record.get("pod_namespace"), "pod_namespace"),
        pod_name=_text(record.get("pod_name"), "pod_name"),
        pid=_pid(record.get("pid", _MISSING), "pid"),
        ppid=_pid(record.get("ppid", _MISSING), "ppid"),
    )


# -- choosing a format ------------------------------------------------------------------------------

FORMATS: Final[dict[str, Parser]] = {
    "falco": parse_falco,
    "tetragon": parse_tetragon,
    "ecs": parse_ecs,
    "generic": parse_generic,
}


def parse_record(fmt: str, record: dict[str, Any], detector: str | None = None) -> ExternalAlert | None:
    """Read ``record`` in format ``fmt``; ``detector`` defaults to the format's name.

    Raises:
        ValueError: for an unknown format (a usage error, not a bad record).
        AlertFormatError: as the format's adapter does.
    """
    parser = FORMATS.get(fmt)
    if parser is None:
        raise ValueError(f"unknown alert format {fmt!r} (known: {', '.join(FORMATS)})")
    return parser(record, detector or fmt)


def detect_format(record: dict[str, Any]) -> str:
    """Guess a record's format from its shape; "generic" when nothing else fits (its parser then
    names the first key it does not know)."""
    if not isinstance(record, dict):
        return "generic"
    if all(key in record for key in ("output_fields", "rule", "priority")):
        return "falco"
    if any(key in record for key in (*TETRAGON_ALERT_EVENTS, *TETRAGON_OTHER_EVENTS)):
        return "tetragon"
    if _ecs(record, "event.kind") is not _MISSING:
        return "ecs"
    return "generic"
