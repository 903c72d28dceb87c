"""A triage as text, a run's alerts as a listing, and choosing one alert by index or rule@object."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.triage.model import (
    AROUND_S,
    NOT_SEEN,
    Benign,
    EventLine,
    Fact,
    RelatedAlert,
    RunAlert,
    Triage,
    TriageError,
    literal,
    short,
    when,
)

# --- text ---------------------------------------------------------------------------------------------


def _fact_lines(facts: Sequence[Fact]) -> list[str]:
    """Each fact seen on a line of its own; those no event carried on one line at the end."""
    seen = [f for f in facts if f.value is not None]
    width = max((len(f.name) for f in seen), default=0)
    lines = [f"  {f.name:<{width}}  {f.value}" + (f"  [{f.event_id}]" if f.event_id else "") for f in seen]
    missing = [f.name for f in facts if f.value is None]
    return lines + ([f"  {NOT_SEEN}: {', '.join(missing)}"] if missing else [])


def _event_lines(lines: Sequence[EventLine], ref: float, empty: str) -> list[str]:
    if not lines:
        return [f"    {empty}"]
    out = []
    for line in lines:
        mark = "*" if line.evidence else " "
        times = f" (x{line.repeats}, latest shown)" if line.repeats > 1 else ""
        out.append(f"  {mark} {when(line.at)} ({line.at - ref:+.1f} s)  {line.what}: {line.detail}  "
                   f"[{line.event_id}]{times}")
    return out


def _related_lines(rows: Sequence[RelatedAlert], empty: str) -> list[str]:
    if not rows:
        return [f"    {empty}"]
    return [f"    {when(r.at)}  {r.rule_id}  on {short(r.object)}  ({', '.join(r.scenarios) or 'no scenario'})"
            for r in rows]


def _benign_lines(b: Benign) -> list[str]:
    d = b.detector
    lines = [f"  detector: {d.rule_id} ({d.kind}), source {d.source}"
             + (f"; ADS document {d.document}" if d.document else "")]
    lines += ["  false positives (the ADS document's):"] + ([f"    - {fp}" for fp in d.falsepositives]
                                                          or ["    - none documented"])
    lines += ["  benign twins that must stay silent under it:"] + ([f"    - {t}" for t in d.twins] or ["    - none"])
    if d.kind == "unknown":
        return [*lines, "  policy fields it reads: unknown (not a shipped detector: see the rules the run had)"]
    if d.policy_fields is None:
        return [*lines, "  policy fields it reads: not declared (an analytic that does not say: see its source)"]
    if not d.policy_fields:
        return [*lines, "  policy fields it reads: none (no policy entry can make it benign)"]
    lines.append(f"  policy fields it reads, and what {b.policy_source} answered on the evidence:")
    for row in b.fields:
        where = "; ".join(f"{k} in {', '.join(row.files) or 'no file'}" for k in row.kinds) or "no policy kind"
        lines.append(f"    {row.field}  (set by {where})")
        lines += [f"      on {event_id}: {value}" for event_id, value in row.values]
    lines += [f"    kind {k}: {doc}" for k, doc in b.kinds.items() if doc]
    if b.written:
        lines.append("  also written by those kinds on the evidence events:")
        lines += [f"    {w.event_id}: {w.field}={literal(w.value)}  ({w.kind})" for w in b.written]
    return lines + _what_if_lines(b) + _sanction_lines(b)


def _what_if_lines(b: Benign) -> list[str]:
    if b.matched is None:
        return ["  (an analytic: it cannot be run again on one event, so the sanctions below are those of every "
                "kind behind a field it reads)"]
    lines = []
    for event_id, matched in b.matched:
        if not matched:
            lines.append(f"  today's rule does not match {event_id} as this policy enriches it: the alert came "
                         "from the rules or policy the run (or its replay) had")
            continue
        tried = [w for w in b.what_if if w.event_id == event_id]
        silencing = [f"{w.field}={literal(w.value)}" for w in tried if w.silences]
        lines.append(f"  on {event_id} the rule would not have fired had "
                     + (" or ".join(silencing) if silencing else "no single yes/no policy field been otherwise")
                     + (f" (tried: {', '.join(f'{w.field}={literal(w.value)}' for w in tried)})" if tried else ""))
    return lines


def _sanction_lines(b: Benign) -> list[str]:
    if b.matched is not None and not b.sanctioning_kinds:
        return ["  sanctions: none can make it benign (a sanction that covers an event sets its kind's answer to "
                "true, and no field being true would have kept the rule silent)"]
    if not b.sanctions:
        return [f"  sanctions: the kinds that could make it benign ({', '.join(b.sanctioning_kinds)}) have none"]
    lines = [f"  sanctions of {', '.join(b.sanctioning_kinds)} (what each needs, and whether the recorded event "
             "shows it):"]
    for s in b.sanctions:
        lines.append(f"    {s.kind}/{s.list_key}/{s.name}  ({s.file}" + (f", owner {s.owner})" if s.owner else ")"))
        checked = f" on {s.event_id}" if s.event_id else ""
        for need in s.needs:
            verdict = {True: "shown", False: "NOT shown", None: "not evaluated"}[need.holds]
            lines.append(f"      needs {need.what}: {verdict}{checked}")
        if not s.needs:
            lines.append("      bound to what the file says, not evaluated here")
        if s.further:
            lines.append(f"      and its further conditions, not evaluated here: {', '.join(s.further)}")
    lines.append("  (a sanction applies only where the policy's answer above says so: every need shown is not enough "
                 "when a further condition fails)")
    return lines


def render(t: Triage) -> str:
    a = t.alert.alert
    ref = a.raised_at
    lines = [f"{a.rule_id} on {a.object}",
             f"  {a.title} [{a.severity}]; run {t.run_id}; scenario(s): {', '.join(t.alert.scenarios) or 'none'}",
             f"  first seen {when(a.first_seen)}, raised {when(a.raised_at)}; evidence {', '.join(a.evidence)}",
             f"  alerts from: {t.alerts_from}", "",
             "1. Workload (from the events about the object; [event id] it was read from)"]
    lines += _fact_lines(t.workload.facts)
    lines += ["", "2. Who or what deployed it"]
    lines += _event_lines(t.deployment.engine, ref, "no create or start event of it was recorded")
    lines += _fact_lines(t.deployment.facts)
    act = t.activity
    lines += ["", f"3. Activity nearest the alert, up to {AROUND_S:g} s after it (at most {act.limit} of each, "
                  "newest last; * = evidence)"]
    for title, rows in (("process", act.processes), ("network", act.network), ("file", act.files)):
        lines.append(f"  {title}:")
        lines += _event_lines(rows, ref, f"no {title} event of it was recorded")
    lines.append("  evidence the alert names:")
    lines += _event_lines(act.evidence, ref, "none found in events.jsonl")
    lines += [f"    {event_id}: not in events.jsonl" for event_id in act.missing_evidence]
    lines += ["", "4. Other alerts", "  on the same object:"]
    lines += _related_lines(t.related.same_object, "none")
    image = t.related.image_id
    lines.append(f"  on other objects running the same image id ({image[:19] + '...' if image else NOT_SEEN}):")
    lines += _related_lines(t.related.same_image, "none")
    lines += ["", "5. What could make it benign"]
    lines += _benign_lines(t.benign)
    return "\n".join(lines)


def listing(alerts: Sequence[RunAlert]) -> list[dict[str, Any]]:
    """One row per alert, numbered from 1 as ALERT may name them."""
    return [{"index": i, "rule_id": a.alert.rule_id, "object": a.alert.object, "object_short": a.short_object,
             "scenarios": list(a.scenarios), "raised_at": a.alert.raised_at, "time": when(a.alert.raised_at)}
            for i, a in enumerate(alerts, 1)]


def render_listing(alerts: Sequence[RunAlert], run_dir: str, source: str) -> str:
    """The alerts as an aligned table, numbered as ALERT names them."""
    rows = [("#", "RULE", "OBJECT", "SCENARIO", "RAISED")] + [
        (str(r["index"]), r["rule_id"], r["object_short"], ",".join(r["scenarios"]) or "-", r["time"])
        for r in listing(alerts)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines = [f"{len(alerts)} alert(s) in {run_dir}, from {source}"]
    if alerts:
        lines += [*table, f"explain one: stowaway explain-alert {run_dir} N (or RULE_ID@OBJECT)"]
    return "\n".join(lines)


# --- choosing one alert -------------------------------------------------------------------------------


def choose(alerts: Sequence[RunAlert], spec: str) -> RunAlert:
    """``spec`` is a 1-based index into ``alerts`` or ``RULE_ID@KIND:ID``, where a prefix of the id
    names the object when it names one only (12 characters, as `docker ps` shows, always do in
    practice). Raises TriageError naming what does not match."""
    if spec.isdigit():
        index = int(spec)
        if not 1 <= index <= len(alerts):
            raise TriageError(f"ALERT {spec}: no such alert (the run has {len(alerts)}, numbered from 1)")
        return alerts[index - 1]
    rule, at, ref = spec.partition("@")
    kind, colon, _ = ref.partition(":")
    if not at or not rule or not colon or not kind:
        raise TriageError(f"ALERT {spec!r}: expected an index or RULE_ID@OBJECT (container:<id>)")
    of_rule = [a for a in alerts if a.alert.rule_id == rule]
    if not of_rule:
        raise TriageError(f"ALERT {spec!r}: the run has no alert of rule {rule}")
    hits = [a for a in of_rule if a.alert.object == ref] or [a for a in of_rule if a.alert.object.startswith(ref)]
    objects = sorted({a.alert.object for a in hits})
    if not hits:
        raise TriageError(f"ALERT {spec!r}: rule {rule} raised no alert on {ref} "
                          f"(it did on {', '.join(sorted({short(a.alert.object) for a in of_rule}))})")
    if len(objects) > 1:
        raise TriageError(f"ALERT {spec!r}: {ref} is ambiguous, it matches {', '.join(objects)}")
    if len(hits) > 1:
        numbers = ", ".join(str(alerts.index(a) + 1) for a in hits)
        raise TriageError(f"ALERT {spec!r}: {len(hits)} alerts of {rule} on {objects[0]}: name one by its index "
                          f"({numbers})")
    return hits[0]


