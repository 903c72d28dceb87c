"""What the policy answered on the evidence events, which sanctions could apply and what they need."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from detectors.alert import Alert
from detectors.event import Event, object_ref
from harness.triage.alerts import _relative
from harness.triage.model import (
    ROOT,
    DetectorDoc,
    Need,
    PlatformFacts,
    PolicyContext,
    PolicyWrite,
    SanctionCheck,
    Signed,
    WhatIf,
)
from harness.triage.sections import _evidence_events, _latest, about

# --- loading: the policy's answers --------------------------------------------------------------------


def _enrichment(policy: Any, event: Event) -> tuple[Event, list[PolicyWrite]]:
    """``event`` enriched by the policy, and each ``policy.*`` field written with the kind that wrote
    it: the sections run in the policy's own order, as ``Policy.enrich`` (a SIEM's ingest) runs them."""
    copy = dict(event)
    writes = []
    for kind, section in policy.sections.items():
        before = {k: v for k, v in copy.items() if k.startswith("policy.")}
        section.enrich(copy)
        writes += [PolicyWrite(str(event.get("event.id")), k, v, kind) for k, v in copy.items()
                   if k.startswith("policy.") and (k not in before or before[k] != v)]
    return copy, writes


def _what_if(rule: Any, enriched: Event, reads: Sequence[str]) -> list[WhatIf]:
    """The rule on ``enriched`` with each yes/no field it reads set otherwise (an absent one set
    both ways); fields of other values (a zone, a name) are not tried."""
    tried = []
    for field in reads:
        value = enriched.get(field)
        if field not in enriched:
            values = [True, False]
        elif isinstance(value, bool):
            values = [not value]
        else:
            continue
        for other in values:
            changed = {**enriched, field: other}
            tried.append(WhatIf(str(enriched.get("event.id")), field, other, not rule.matches(changed)))
    return tried


def _rule_checks(detector: DetectorDoc, enriched: Sequence[Event]
                 ) -> tuple[tuple[tuple[str, bool], ...] | None, tuple[WhatIf, ...]]:
    """For a Sigma rule: whether it matches each enriched evidence event today, and the what-ifs."""
    if detector.kind != "sigma":
        return None, ()
    from detectors.sigma.rule import load_rule

    path = Path(detector.source)
    rule = load_rule(path if path.is_absolute() else ROOT / path)
    matched = tuple((str(e.get("event.id")), bool(rule.matches(e))) for e in enriched)
    what_if = [w for e, (_, hit) in zip(enriched, matched, strict=True) if hit
               for w in _what_if(rule, e, detector.policy_fields or ())]
    return matched, tuple(what_if)


def _kind_docs(policy: Any) -> dict[str, str]:
    """Each kind's first docstring sentence ("Policy kind ``logging``: contexts where ...")."""
    import sys

    docs = {}
    for kind, section in policy.sections.items():
        text = " ".join(((sys.modules[type(section).__module__].__doc__ or "").split("\n\n")[0]).split())
        docs[kind] = text.split(": ", 1)[-1] if text.startswith("Policy kind") else text
    return docs


def _files_by_kind(files: Sequence[str], published: Path | None) -> tuple[dict[str, tuple[str, ...]],
                                                                          dict[str, list[tuple[str, Any]]]]:
    """kind -> the files (as shown) that set it, and kind -> (file shown, body) to find entries in."""
    import yaml

    shown_files: dict[str, list[str]] = {}
    bodies: dict[str, list[tuple[str, Any]]] = {}
    for name in files:
        path = Path(name)
        body = yaml.safe_load(path.read_text())
        kind = str(body.get("kind")) if isinstance(body, dict) else "?"
        label = (f"run.json platform facts (published as {path.name})"
                 if published is not None and path.parent == published else _relative(name))
        shown_files.setdefault(kind, []).append(label)
        bodies.setdefault(kind, []).append((label, body))
    return {k: tuple(v) for k, v in shown_files.items()}, bodies


def _needs(entry: Any, platform: Any, event: Event | None) -> tuple[Need, ...]:
    """The provenance ``entry`` binds to, each part held against ``event`` by the detectors' own code."""
    from detectors.sanction import Provenanced, SignedImage

    match = getattr(entry, "match", None)
    image = match.image if isinstance(match, Provenanced) else getattr(entry, "image", None)
    parts: list[tuple[str, Any]] = []
    if isinstance(image, SignedImage):
        parts.append((f"an image signed by {image.signer} as {' or '.join(image.identities)}"
                      + (", run as built" if image.as_built else ""), Provenanced(image=image)))
    if isinstance(match, Provenanced) and match.networks:
        parts.append((f"every network it joins a platform {' or '.join(match.networks)} network (by id)",
                      Provenanced(networks=match.networks)))
    return tuple(Need(what, None if event is None else bool(part.matches(event, platform))) for what, part in parts)


def _further(entry: Any) -> tuple[str, ...]:
    from detectors.schema import settings

    return tuple(s.key for s in settings(type(entry))
                 if s.name not in ("name", "owner", "description", "match", "image"))


def _file_of(entry_name: str, list_key: str, bodies: Sequence[tuple[str, Any]]) -> str:
    for label, body in bodies:
        items = body.get(list_key) if isinstance(body, dict) else None
        if isinstance(items, list) and any(isinstance(i, dict) and i.get("name") == entry_name for i in items):
            return label
    return "?"


def _sanctions(policy: Any, bodies: Mapping[str, Sequence[tuple[str, Any]]], platform: Any,
               event: Event | None) -> list[SanctionCheck]:
    from detectors.schema import settings

    checks = []
    for kind, section in policy.sections.items():
        attribute = {s.key: s.name for s in settings(type(section))}
        for list_key in getattr(section, "sanction_lists", ()):
            entries = getattr(section, attribute.get(list_key, list_key), ())
            for entry in entries if isinstance(entries, tuple | list) else ():
                if isinstance(entry, Path):  # a reviewed file (a stored baseline): its content is the sanction
                    checks.append(SanctionCheck(kind, list_key, entry.name, "", "", _relative(str(entry)), None, (),
                                                ("what the reviewed file lists",)))
                    continue
                if not dataclasses.is_dataclass(entry) or not hasattr(entry, "name"):
                    continue
                checks.append(SanctionCheck(
                    kind=kind, list_key=list_key, name=entry.name, owner=str(getattr(entry, "owner", "")),
                    description=" ".join(str(getattr(entry, "description", "")).split()),
                    file=_file_of(entry.name, list_key, bodies.get(kind, ())),
                    event_id=None if event is None else str(event.get("event.id")),
                    needs=_needs(entry, platform, event), further=_further(entry)))
    return checks


def _subject(evidence: Sequence[Event], mine: Sequence[Event], ref: str) -> Event | None:
    """The event a sanction's provenance is held against: the first evidence event about the object
    that carries its image or networks (as the policy saw it), else the object's latest inspect data.
    (A flow's container fields are its source's: evidence about a peer says nothing of this workload.)"""
    for event in evidence:
        if object_ref(event) == ref and ("container.image.id" in event or "container.network.ids" in event):
            return event
    own = [e for e in mine if object_ref(e) == ref]
    return _latest(own, "container.image.id", float("inf")) or _latest(mine, "container.image.id", float("inf"))


def load_policy_context(run: Any, alert: Alert, detector: DetectorDoc, policy_dirs: Sequence[Path] = ()
                        ) -> tuple[PolicyContext, PlatformFacts]:
    """Today's policy (the shipped files, or ``policy_dirs``) with the platform facts recorded in
    run.json, asked about the alert's evidence events and workload; for a Sigma rule, the rule run
    again on them. ``run`` is a ``harness.replay.RecordedRun``. Raises PolicyError naming the file."""
    from detectors.platform import Platform
    from detectors.policies import DEFAULT_POLICY_DIR, load_policy
    from harness.replay import publish

    found, _ = _evidence_events(run.events, alert)
    mine = about(run.events, alert.object)
    with tempfile.TemporaryDirectory(prefix="stowaway-triage-") as scratch:
        published = publish(run.platform, Path(scratch)) if run.platform is not None else None
        policy = load_policy([*(list(policy_dirs) or [DEFAULT_POLICY_DIR]), *([published] if published else [])])
        files, bodies = _files_by_kind(policy.files, published)
        platform = Platform(policy)
        enriched = [_enrichment(policy, event) for event in found]
        declared = {k: tuple(w) for k, s in policy.sections.items() if (w := getattr(s, "writes", None))}
        matched, what_if = _rule_checks(detector, [event for event, _ in enriched])
        context = PolicyContext(
            source=("the shipped policy" if not policy_dirs else ", ".join(str(d) for d in policy_dirs))
            + (" with the platform facts recorded in run.json" if published else " (run.json has no platform facts)"),
            writes=tuple(w for _, writes in enriched for w in writes), files=files, declared=declared,
            sanctions=tuple(_sanctions(policy, bodies, platform, _subject(found, mine, alert.object))),
            kind_docs=_kind_docs(policy), matched=matched, what_if=what_if)
        facts = _platform_facts(run, platform, [*mine, *found])
    return context, facts


def _platform_facts(run: Any, platform: Any, events: Sequence[Event]) -> PlatformFacts:
    if run.platform is None:
        return PlatformFacts(False, {}, {})
    images = {str(e["container.image.id"]) for e in events if e.get("container.image.id")}
    signatures = {i: tuple(Signed(p.signer, p.identity, p.command) for p in platform.provenance(i)) for i in images}
    networks = {}
    for entry in run.platform.get("networks") or []:
        known = platform.network(entry.get("id"))
        if known is not None:
            networks[str(entry["id"])] = known.purpose + (" (orchestrated)" if known.orchestrated else "")
    return PlatformFacts(True, signatures, networks)
