"""The five sections of a triage, each a pure function over the recorded events."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from detectors.alert import Alert
from detectors.event import Event, object_ref
from harness.triage.model import (
    AROUND_S,
    DEFAULT_EVENTS,
    NOT_SEEN,
    SHORT_ID,
    Activity,
    Benign,
    Deployment,
    DetectorDoc,
    EventLine,
    Fact,
    PlatformFacts,
    PolicyContext,
    PolicyField,
    Related,
    RelatedAlert,
    RunAlert,
    Triage,
    Workload,
    _created,
    _id_of,
    literal,
    shown,
)

# --- 1. the workload ----------------------------------------------------------------------------------

# The fields docker inspect (detectors/sensors/docker_inspect.py), Swarm's service spec and the
# Kubernetes audit log put on events about an object, in the order an analyst reads them; None marks
# where a fact that takes more than one field goes.
_FACTS: tuple[tuple[str, str | None], ...] = (
    ("name", "container.name"),
    ("image", "container.image.name"),
    ("image id", "container.image.id"),
    ("image signature", None),
    ("command", "container.command"),
    ("user", "container.user"),
    ("privileged", "container.privileged"),
    ("capabilities added", "container.cap_add"),
    ("capabilities dropped", "container.cap_drop"),
    ("pid namespace", "container.pid_mode"),
    ("ipc namespace", "container.ipc_mode"),
    ("user namespace", "container.userns_mode"),
    ("network mode", "container.network_mode"),
    ("networks", "container.network.names"),
    ("network ids", None),
    ("mounts", None),
    ("devices", "container.devices"),
    ("security options", "container.security_opt"),
    ("log driver", "container.logging.driver"),
    ("log options", None),
    ("labels", None),
    ("runtime", "container.runtime"),
    ("swarm service id (claimed)", "orchestrator.resource.id"),
    ("swarm service name", "orchestrator.resource.name"),
    ("swarm replicas", "orchestrator.service.replicas"),
    ("kubernetes namespace", "kubernetes.namespace"),
    ("kubernetes pod", "kubernetes.pod.name"),
    ("kubernetes pod images", "kubernetes.pod.images"),
    ("kubernetes privileged", "kubernetes.pod.privileged"),
)


def inspected(event: Event) -> bool:
    """An engine event carrying ``docker inspect`` data (create, start): the spec as the engine
    reported it. Other sensors copy a few of its fields onto their events, never labels or options."""
    return event.get("event.dataset") == "docker.events" and "container.runtime" in event


def about(events: Sequence[Event], ref: str) -> list[Event]:
    """The events about ``ref``: those whose object it is, and for a service its task containers'
    engine events (they name the service they claim) and its spec events."""
    if ref.startswith("service:"):
        service = _id_of(ref)
        return [e for e in events if object_ref(e) == ref or e.get("orchestrator.resource.id") == service]
    return [e for e in events if object_ref(e) == ref]


def _latest(events: Sequence[Event], field: str, until: float) -> Event | None:
    """The latest event carrying ``field`` at or before ``until``, else the first one after it; the
    engine's inspect data first, since other sensors' copies of its fields may be partial."""
    carrying = [e for e in events if field in e and inspected(e)] or [e for e in events if field in e]
    before = [e for e in carrying if _created(e) <= until]
    if before:
        return before[-1]
    return carrying[0] if carrying else None


def _fact(name: str, field: str, events: Sequence[Event], until: float) -> Fact:
    event = _latest(events, field, until)
    if event is None:
        return Fact(name, None)
    return Fact(name, shown(event[field]), str(event.get("event.id")))


def _prefixed(name: str, prefix: str, events: Sequence[Event], until: float) -> Fact:
    """Labels and log options are one field each: ``container.labels.<key>``. Absent on an event that
    carries inspect data, there were none; without such an event, nothing is known."""
    event = _latest([e for e in events if inspected(e)], "container.runtime", until)
    if event is None:
        return Fact(name, None)
    found = {k[len(prefix):]: v for k, v in event.items() if k.startswith(prefix)}
    text = ", ".join(f"{k}={v}" for k, v in sorted(found.items())) if found else "none"
    return Fact(name, text, str(event.get("event.id")))


def _mounts(events: Sequence[Event], until: float) -> Fact:
    event = _latest(events, "container.mounts.sources", until)
    if event is None:
        return Fact("mounts", None)
    sources = list(event.get("container.mounts.sources") or [])
    targets = list(event.get("container.mounts.destinations") or [])
    writable = set(event.get("container.mounts.writable_sources") or [])
    parts = [f"{source} -> {targets[i] if i < len(targets) else '?'} ({'rw' if source in writable else 'ro'})"
             for i, source in enumerate(sources)]
    return Fact("mounts", "; ".join(parts) or "none", str(event.get("event.id")))


def _network_ids(events: Sequence[Event], until: float, platform: PlatformFacts) -> Fact:
    event = _latest([e for e in events if e.get("container.network.ids")], "container.network.ids", until)
    if event is None:
        return Fact("network ids", None)
    if not platform.recorded:
        text = ", ".join(n[:SHORT_ID] for n in event["container.network.ids"])
        return Fact("network ids", f"{text} (no platform inventory recorded with the run)", str(event["event.id"]))
    known = platform.networks
    parts = [f"{n[:SHORT_ID]} ({'platform ' + known[n] if n in known else 'not a platform network'})"
             for n in event["container.network.ids"]]
    return Fact("network ids", ", ".join(parts), str(event["event.id"]))


def _signature(events: Sequence[Event], until: float, platform: PlatformFacts) -> Fact:
    """What the platform's image pipeline signed over this image id, verified with the key recorded
    with the run; and whether the container runs the command it was built with (a sanction's as_built)."""
    event = _latest(events, "container.image.id", until)
    if event is None:
        return Fact("image signature", None)
    if not platform.recorded:
        return Fact("image signature", f"{NOT_SEEN} (run.json recorded no platform facts)")
    signed = platform.signatures.get(str(event["container.image.id"]), ())
    if not signed:
        return Fact("image signature", "none: no trusted signer signed this image id (platform facts recorded "
                                       "with the run)", str(event["event.id"]))
    command = _latest(events, "container.command", until)
    parts = []
    for sig in signed:
        built = "built command not recorded" if sig.command is None else f"built to run {list(sig.command)}"
        if sig.command is not None and command is not None:
            built += "; it runs " + ("that command (as built)" if tuple(command["container.command"]) == sig.command
                                     else f"{command['container.command']} instead (not as built)")
        parts.append(f"signed by {sig.signer} as {sig.identity}, {built}")
    return Fact("image signature", "; ".join(parts) + " (verified offline with the public key recorded with the run)",
                str(event["event.id"]))


def _fact_of(name: str, field: str | None, events: Sequence[Event], until: float, platform: PlatformFacts) -> Fact:
    if field is not None:
        return _fact(name, field, events, until)
    if name == "image signature":
        return _signature(events, until, platform)
    if name == "network ids":
        return _network_ids(events, until, platform)
    if name == "mounts":
        return _mounts(events, until)
    prefix = "container.logging.options." if name == "log options" else "container.labels."
    return _prefixed(name, prefix, events, until)


def workload(ref: str, mine: Sequence[Event], until: float, platform: PlatformFacts) -> Workload:
    """Each fact from the object's own events; for a service, what its spec events do not carry
    from its task containers' engine events, and said so (a task may run an older spec)."""
    own = [e for e in mine if object_ref(e) == ref]
    facts = []
    for name, field in _FACTS:
        fact = _fact_of(name, field, own, until, platform)
        if fact.value is None and len(own) < len(mine):
            fact = _fact_of(name, field, mine, until, platform)
            if fact.value is not None:
                fact = dataclasses.replace(fact, value=f"{fact.value} (from a task container)")
        facts.append(fact)
    return Workload(ref, tuple(facts))


# --- 2. who deployed it -------------------------------------------------------------------------------

_DEPLOY_ACTIONS = {"create", "start", "update"}
_AUDIT_FIELDS = (("user", "user.username"), ("groups", "user.groups"), ("user agent", "userAgent"),
                 ("impersonated user", "impersonatedUser.username"), ("source IPs", "sourceIPs"))


def _engine_line(event: Event, evidence: set[str]) -> EventLine:
    attributes = {k.removeprefix("docker.attributes."): v for k, v in event.items()
                  if k.startswith("docker.attributes.")}
    source = "swarm spec" if event.get("event.dataset") == "swarm.services" else f"engine {event.get('event.type')}"
    detail = ", ".join(f"{k}={v}" for k, v in sorted(attributes.items()))
    if event.get("orchestrator.service.version") is not None:
        detail = f"service version {event['orchestrator.service.version']}" + (f", {detail}" if detail else "")
    return EventLine(_created(event), str(event.get("event.id")), f"{source} {event.get('event.action')}",
                     detail or "no actor attributes", str(event.get("event.id")) in evidence)


def _swarm_fact(mine: Sequence[Event], until: float) -> Fact:
    """A task's labels are the container's own to claim; only the orchestrator's answer counts."""
    claimed = _latest([e for e in mine if e.get("orchestrator.task.claimed")], "orchestrator.task.claimed", until)
    if claimed is not None:
        service = f"{claimed.get('orchestrator.resource.id')} ({claimed.get('orchestrator.resource.name') or '?'})"
        verified = claimed.get("orchestrator.task.verified")
        said = ("the orchestrator confirmed the task runs this container" if verified is True else
                "the orchestrator did NOT confirm it (labels anyone can set)" if verified is False else
                "whether the orchestrator confirmed it is not in the telemetry")
        return Fact("swarm service", f"task of service {service}: {said}", str(claimed.get("event.id")))
    spec = _latest([e for e in mine if e.get("event.dataset") == "swarm.services"], "orchestrator.resource.id", until)
    if spec is not None:
        return Fact("swarm service", f"the service itself ({spec.get('orchestrator.resource.name') or '?'}), "
                                     "from the manager's service specs", str(spec.get("event.id")))
    engine = _latest([e for e in mine if inspected(e)], "container.runtime", until)
    if engine is not None:
        return Fact("swarm service", "none: its inspect data carries no Swarm task labels", str(engine["event.id"]))
    return Fact("swarm service", None)


def _audit_facts(mine: Sequence[Event]) -> list[Fact]:
    creates = [e for e in mine if e.get("event.dataset") == "kubernetes.audit" and e.get("verb") == "create"]
    if not creates:
        return [Fact(f"kubernetes {name}", None) for name, _ in _AUDIT_FIELDS]
    first = creates[0]
    return [Fact(f"kubernetes {name}", shown(first[field]) if field in first else None, str(first.get("event.id")))
            for name, field in _AUDIT_FIELDS]


def _audit_line(event: Event, evidence: set[str]) -> EventLine:
    who = ", ".join(f"{name} {shown(event[field])}" for name, field in _AUDIT_FIELDS[:3] if field in event)
    return EventLine(_created(event), str(event.get("event.id")),
                     f"kubernetes {event.get('verb')} {event.get('objectRef.resource') or ''}".rstrip(),
                     who or "no user in the audit event", str(event.get("event.id")) in evidence)


def _deploys(event: Event) -> bool:
    dataset = event.get("event.dataset")
    if dataset == "kubernetes.audit":
        return event.get("verb") in ("create", "update", "patch")
    engine = dataset == "docker.events" and event.get("event.type") in ("container", "service")
    return event.get("event.action") in _DEPLOY_ACTIONS and (dataset == "swarm.services" or engine)


def deployment(mine: Sequence[Event], until: float, evidence: set[str]) -> Deployment:
    lines = [(_audit_line if e.get("event.dataset") == "kubernetes.audit" else _engine_line)(e, evidence)
             for e in mine if _deploys(e)]
    engine_events = any(e.get("event.dataset") == "docker.events" for e in mine)
    caller = Fact("engine API caller", "not in the telemetry: Docker's and Swarm's events name no caller "
                                       "(who held the engine socket is unknown)" if engine_events else None)
    return Deployment(tuple(lines), (caller, _swarm_fact(mine, until), *_audit_facts(mine)))


# --- 3. what it did -----------------------------------------------------------------------------------


def _kind_of(event: Event) -> str | None:
    dataset = str(event.get("event.dataset") or "")
    if dataset in ("linux.process", "linux.process_io") or (
            dataset == "docker.events" and event.get("event.action") == "exec_start"):
        return "process"
    if dataset.startswith(("tracefs.tcp", "network.", "netns.")) or event.get("event.category") == "network":
        return "network"
    if dataset in ("linux.fim", "docker.container_logs") or event.get("event.category") == "file_change":
        return "file"
    return None


def _process_line(event: Event) -> tuple[str, str]:
    action = str(event.get("event.action"))
    if event.get("event.dataset") == "docker.events":
        return "docker exec", str(event.get("process.command_line") or "")
    if event.get("event.dataset") == "linux.process_io":
        return "stdio", (f"{event.get('process.name')}: stdout -> {event.get('process.io.stdout.path')}, "
                         f"stderr -> {event.get('process.io.stderr.path')}")
    notes = [n for n, flag in (("not in its image", event.get("process.executable_in_image") is False),
                               ("executable deleted", event.get("process.executable_deleted") is True),
                               ("argv0 differs from the executable",
                                event.get("process.argv0_matches_executable") is False)) if flag]
    detail = f"{event.get('process.executable')}: {event.get('process.command_line') or event.get('process.name')}"
    return action, detail + (f" [{'; '.join(notes)}]" if notes else "")


def _peer(event: Event, side: str) -> str:
    name = event.get(f"{side}.container.name")
    ip, port = event.get(f"{side}.ip"), event.get(f"{side}.port")
    where = "?" if ip is None else f"{ip}:{port}" if port is not None else str(ip)
    return f"{where} ({name})" if name else where


def _network_line(event: Event) -> tuple[str, str]:
    dataset = str(event.get("event.dataset"))
    action = str(event.get("event.action"))
    if dataset == "netns.nat":
        return "nat rule", str(event.get("nat.rule"))
    if dataset == "tracefs.tcp":
        process = event.get("process.command_line") or event.get("process.name") or "?"
        return f"tcp {action}", f"{_peer(event, 'source')} -> {_peer(event, 'destination')} by {process}"
    volume = f", {event.get('network.bytes')} B" if event.get("network.bytes") is not None else ""
    host = f", http host {event['http.request.host']}" if event.get("http.request.host") else ""
    query = f", dns {event['dns.question.name']}" if event.get("dns.question.name") else ""
    return f"{dataset.split('.')[-1]} {action}", f"{_peer(event, 'source')} -> {_peer(event, 'destination')}" \
                                                 f"{volume}{host}{query}"


def _file_line(event: Event) -> tuple[str, str]:
    path = event.get("file.path_in_container") or event.get("file.path")
    digest = f", sha256 {str(event['file.hash.sha256'])[:16]}" if event.get("file.hash.sha256") else ""
    role = f" ({event['file.role']})" if event.get("file.role") else ""
    return f"file {event.get('event.action')}", f"{path}{role}{digest}"


def _line(event: Event, evidence: set[str]) -> EventLine:
    kind = _kind_of(event)
    what, detail = (_process_line(event) if kind == "process" else _network_line(event) if kind == "network"
                    else _file_line(event) if kind == "file"
                    else (f"{event.get('event.dataset')} {event.get('event.action')}", _generic(event)))
    return EventLine(_created(event), str(event.get("event.id")), what, detail, str(event.get("event.id")) in evidence)


def _generic(event: Event) -> str:
    """A line for an event of no kind above: the fields a rule is likely to have read."""
    keep = [k for k in ("container.logging.driver", "container.privileged", "container.cap_add",
                        "container.mounts.sources", "orchestrator.resource.name", "container.cpu.cores",
                        "container.memory.usage_bytes", "process.command_line", "verb", "objectRef.resource",
                        "objectRef.namespace", "user.username", "kubernetes.pod.privileged") if k in event]
    return ", ".join(f"{k}={shown(event[k])}" for k in keep) or "(see the event)"


def _fold(lines: Sequence[EventLine]) -> list[EventLine]:
    """Identical lines (a NAT rule seen on every scan) folded into their latest, with a count."""
    latest: dict[tuple[str, str], EventLine] = {}
    for line in lines:
        key = (line.what, line.detail)
        before = latest.pop(key, None)
        count = 1 if before is None else before.repeats + 1
        marked = line.evidence or (before is not None and before.evidence)
        latest[key] = dataclasses.replace(line, repeats=count, evidence=marked)
    return sorted(latest.values(), key=lambda line: line.at)


def _recent(events: Sequence[Event], kind: str, alert: Alert, limit: int) -> tuple[EventLine, ...]:
    """The ``limit`` events of ``kind`` nearest the alert's first evidence (the last ones before a
    time would miss what led up to it when the workload kept busy after), up to AROUND_S after it was
    raised, shown in time order. Evidence is always among them."""
    marked = set(alert.evidence)
    until = alert.raised_at + AROUND_S
    lines = _fold([_line(e, marked) for e in events if _kind_of(e) == kind and _created(e) <= until])
    nearest = sorted(lines, key=lambda line: (not line.evidence, abs(line.at - alert.first_seen)))[:limit]
    return tuple(sorted(nearest, key=lambda line: line.at))


def _evidence_events(events: Sequence[Event], alert: Alert) -> tuple[list[Event], list[str]]:
    """The events the alert names, in its order; when one id is on several events (runs assembled
    from several recordings), the one about the alert's object."""
    by_id: dict[str, list[Event]] = {}
    for event in events:
        by_id.setdefault(str(event.get("event.id")), []).append(event)
    found, missing = [], []
    for event_id in alert.evidence:
        candidates = by_id.get(event_id, [])
        if not candidates:
            missing.append(event_id)
            continue
        found.append(next((e for e in candidates if object_ref(e) == alert.object), candidates[0]))
    return found, missing


def activity(mine: Sequence[Event], inbound: Sequence[Event], evidence_events: Sequence[Event],
             missing: Sequence[str], alert: Alert, limit: int) -> Activity:
    network = sorted([*mine, *inbound], key=_created)
    return Activity(limit=limit, processes=_recent(mine, "process", alert, limit),
                    network=_recent(network, "network", alert, limit), files=_recent(mine, "file", alert, limit),
                    evidence=tuple(_line(e, set(alert.evidence)) for e in evidence_events),
                    missing_evidence=tuple(missing))


# --- 4. related alerts --------------------------------------------------------------------------------


def _images(events: Iterable[Event]) -> dict[str, str]:
    """Object -> the image id its events last named."""
    found: dict[str, str] = {}
    for event in events:
        ref = object_ref(event)
        if ref and event.get("container.image.id"):
            found[ref] = str(event["container.image.id"])
    return found


def related(chosen: RunAlert, alerts: Sequence[RunAlert], events: Sequence[Event]) -> Related:
    images = _images(events)
    image = images.get(chosen.alert.object)
    others = [a for a in alerts if a is not chosen]
    same_object = [a for a in others if a.alert.object == chosen.alert.object]
    same_image = [a for a in others if a.alert.object != chosen.alert.object
                  and image is not None and images.get(a.alert.object) == image]

    def row(a: RunAlert) -> RelatedAlert:
        return RelatedAlert(a.alert.rule_id, a.alert.object, a.alert.raised_at, a.scenarios)

    return Related(image, tuple(map(row, same_object)), tuple(map(row, same_image)))


# --- 5. what could make it benign ---------------------------------------------------------------------


def covers(read: str, field: str) -> bool:
    """Whether ``read`` (a field, or a prefix ending in ".") names ``field``."""
    return field == read or (read.endswith(".") and field.startswith(read))


def _writers(read: str, policy: PolicyContext) -> list[str]:
    """The kinds that set ``read``: those that wrote it on the evidence, and those that declare they
    write it (a kind that had nothing to say about this event still could about another)."""
    kinds = {w.kind for w in policy.writes if covers(read, w.field)}
    kinds |= {k for k, fields in policy.declared.items() if any(covers(read, f) or covers(f, read) for f in fields)}
    return sorted(kinds)


def _field_rows(reads: tuple[str, ...], evidence_ids: Sequence[str], policy: PolicyContext) -> tuple[PolicyField, ...]:
    rows = []
    for read in reads:
        kinds = _writers(read, policy)
        files = tuple(f for k in kinds for f in policy.files.get(k, ()))
        values = tuple((event_id, ", ".join(f"{w.field}={literal(w.value)}" for w in policy.writes
                                            if w.event_id == event_id and covers(read, w.field))
                        or "not set (the policy had nothing to say about this event)") for event_id in evidence_ids)
        rows.append(PolicyField(read, tuple(kinds), files, values))
    return tuple(rows)


def _sanctioning_kinds(reads: tuple[str, ...], policy: PolicyContext) -> list[str]:
    """The kinds whose sanctions could make the alert benign. A sanction entry that covers an event
    sets its kind's yes/no answer to true (``detectors.policies.record``), so for a Sigma rule they are
    the kinds behind a field whose being true would have kept the rule silent; for an analytic, which
    cannot be run on one event (nor for a rule this policy no longer fires on), every kind behind a
    field it reads."""
    if policy.matched is None or not all(hit for _, hit in policy.matched):
        return sorted({k for read in reads for k in _writers(read, policy)})
    decisive = {w.field for w in policy.what_if if w.silences and w.value is True}
    return sorted({k for field in decisive for k in _writers(field, policy)})


def benign(detector: DetectorDoc, policy: PolicyContext, evidence_ids: Sequence[str]) -> Benign:
    reads = detector.policy_fields or ()
    kinds = _sanctioning_kinds(reads, policy)
    readers = sorted({k for read in reads for k in _writers(read, policy)})
    written = tuple(w for w in policy.writes if w.kind in readers and not any(covers(r, w.field) for r in reads))
    sanctions = tuple(s for s in policy.sanctions if s.kind in kinds)
    return Benign(detector, policy.source, _field_rows(reads, evidence_ids, policy), written, sanctions,
                  policy.matched, policy.what_if, tuple(kinds), {k: policy.kind_docs.get(k, "") for k in readers})


# --- the triage ---------------------------------------------------------------------------------------


def triage(chosen: RunAlert, alerts: Sequence[RunAlert], events: Sequence[Event], detector: DetectorDoc,
           policy: PolicyContext, platform: PlatformFacts, run_id: str, alerts_from: str,
           limit: int = DEFAULT_EVENTS) -> Triage:
    """The triage context of ``chosen`` (one of ``alerts``) from the recorded ``events``."""
    alert = chosen.alert
    mine = about(events, alert.object)
    until = alert.raised_at  # the workload as it was when the alert was raised
    inbound = [e for e in events if alert.object.startswith("container:")
               and e.get("destination.container.id") == _id_of(alert.object) and object_ref(e) != alert.object]
    found, missing = _evidence_events(events, alert)
    return Triage(
        run_id=run_id, alerts_from=alerts_from, alert=chosen,
        workload=workload(alert.object, mine, until, platform),
        deployment=deployment(mine, until, set(alert.evidence)),
        activity=activity(mine, inbound, found, missing, alert, limit),
        related=related(chosen, alerts, events),
        benign=benign(detector, policy, [str(e.get("event.id")) for e in found]))


