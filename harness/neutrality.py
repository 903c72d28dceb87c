"""Does recorded telemetry reveal which scenario ran, or whether it was an adversary or a benign twin?

The house rule (DESIGN.md): no name, label, environment variable, path or file a scenario makes may
reveal its intent. A detector that could read "escape" in a host path, "payload" in a command line
or the scenario's id in a container name would be graded on the lab's words, not on behaviour. This
module scans events (what the sensors emitted: every field name and every string value) for the
scenario ids and module names and for intent words, and names the field and value that leaked. The
harness runs it on the live event stream of the integration suite (tests/integration) and on every
recorded fixture (tests/unit).

The word list comes from real data: the suite's telemetry and every recorded fixture were scanned
with a broad list, and what leaked was the lab's own wording - host directories named after the
scenario id and "escape", markers "escaped-via-chroot" / "escaped-via-nsenter-<pid>", the sinkhole's
container name, script and record file, a repository path ("scenarios/.../_assets") in a mount
source, and a "# ... as a miner runs ..." comment inside a payload's command line. The list keeps
those words and their obvious synonyms. A word matches a whole token of a value (values are split
on anything that is not a letter or a digit, and on case changes), or the start of one for words of
five letters or more ("beaconing", "escaped"); scenario ids and module names match anywhere.
Exclusions, each because real telemetry holds it for a reason that is not intent:

- "authorized_keys": the slug of docker.fim.authorized-keys is the name of sshd's key file, which
  the technique writes and every host has (NATURAL_SLUGS);
- "drop", "masquerade": iptables' DROP and MASQUERADE targets in the guard rules and NAT tables the
  sensors read: kernel words, not the lab's; "hijack", "spoof", "tamper" are only scanned for as
  parts of scenario ids ("name-hijack", "argv0-spoof");
- "kworker", "nginx", "sshd", "collector", "syncd": the names a masquerade or an implant takes are
  the behaviour the detectors judge, not a label of it;
- "stowaway", "stw": the lab's own name on its bookkeeping (run labels, which sensors strip; the lab's
  state directory and network prefix), the same for every scenario and both kinds, so it tells
  neither which scenario ran nor its intent (detectors must not read it all the same);
- scenario-id segments that are single ordinary words of the systems involved ("relay", "cron",
  "socket", "logging"): an id is matched whole and by its multi-word slug ("nsenter-host",
  "tmp_kworker"), not by one common word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from detectors.event import object_ref

# Words that say "this is the attack" or "this is the harmless twin", or name the lab's tooling
# around them. Short ones ("c2") match whole tokens only.
INTENT_WORDS = (
    "adversary", "adversarial", "attack", "attacker", "benign", "evil", "malicious", "malware",
    "escape", "escaped", "breakout", "exfil", "exfiltrate", "payload", "c2", "cnc", "beacon", "implant",
    "miner", "mining", "cryptominer", "twin", "forged", "forgery", "sinkhole", "backdoor",
    "rootkit", "pwn", "pwned", "hacked", "hacker", "exploit", "persistence", "marker", "scenario",
    "detonate", "redteam", "purple", "victim", "decoy", "honeypot",
)
# Fields the lab itself writes and no scenario chooses: the sensor's name and event bookkeeping.
IGNORED_FIELDS = frozenset({"event.id", "event.module", "event.dataset", "event.action", "event.category",
                            "event.type", "observer.name", "event.created"})
# Enrichment from policy files (a platform team's words), not telemetry.
IGNORED_PREFIXES = ("policy.",)
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")
# Scenario slugs that are the name of the system object the technique touches, which real hosts
# hold whatever runs: sshd's key file (docker.fim.authorized-keys writes /root/.ssh/authorized_keys).
NATURAL_SLUGS = frozenset({"authorized_keys"})


@dataclass(frozen=True, slots=True)
class Leak:
    field: str  # the event field that holds it ("<key>" when it is in a field name)
    value: str  # the value (cut to 200 characters)
    found: str  # the intent word, scenario id or slug it matched

    def __str__(self) -> str:
        return f"{self.field}={self.value!r} reveals {self.found!r}"


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _SPLIT.split(text) if t]


def scenario_needles(scenario_ids: Iterable[str]) -> list[str]:
    """What of a scenario's id may not appear: the id, and its last segment when it is a slug of
    several words, written with dashes or underscores (the module's file name)."""
    needles: list[str] = []
    for scenario_id in scenario_ids:
        needles.append(scenario_id.lower())
        slug = scenario_id.rsplit(".", 1)[-1].lower()
        if "-" in slug:
            needles += [slug, slug.replace("-", "_")]
    return sorted(set(needles) - NATURAL_SLUGS, key=len, reverse=True)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            yield str(key)
            yield from _strings(inner)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            yield from _strings(inner)


class Matcher:
    """The scenario needles and intent words, compiled once; answers per distinct string (values
    repeat a lot in telemetry: container names, images, command lines), so it remembers answers."""

    def __init__(self, needles: Iterable[str], words: Iterable[str] = INTENT_WORDS) -> None:
        needles = [n for n in needles if n]
        self._needles = re.compile("|".join(re.escape(n) for n in needles), re.I) if needles else None
        words = tuple(words)
        self._exact = frozenset(w for w in words if len(w) < 5)
        self._prefix = re.compile("(?:" + "|".join(re.escape(w) for w in words if len(w) >= 5) + ")")
        self._seen: dict[str, tuple[str, ...]] = {}

    def hits(self, text: str) -> tuple[str, ...]:
        known = self._seen.get(text)
        if known is not None:
            return known
        found: list[str] = []
        if self._needles is not None:
            found += [m.group(0).lower() for m in self._needles.finditer(text)]
        for token in tokens(text):
            if token in self._exact:
                found.append(token)
            else:
                match = self._prefix.match(token)
                if match:
                    found.append(match.group(0))
        answer = tuple(dict.fromkeys(found))
        if len(self._seen) > 200_000:
            self._seen.clear()
        self._seen[text] = answer
        return answer


def scan_event(event: Mapping[str, Any], matcher: Matcher) -> list[Leak]:
    """Every intent word, scenario id or slug in this event's field names and string values."""
    leaks: list[Leak] = []
    for field, value in event.items():
        if field in IGNORED_FIELDS or field.startswith(IGNORED_PREFIXES):
            continue
        for where, text in [("<key>", field), *((field, s) for s in _strings(value))]:
            for found in matcher.hits(text):
                leaks.append(Leak(field if where == "<key>" else where, text[:200], found))
    return leaks


class TelemetryScan:
    """A monitor tap: scans every event as it arrives and keeps each leak with the object it is
    about, so a test can judge only its own run's objects on an engine others share."""

    def __init__(self, scenario_ids: Iterable[str], words: Iterable[str] = INTENT_WORDS) -> None:
        self.matcher = Matcher(scenario_needles(scenario_ids), words)
        self.events = 0
        self.leaks: dict[Leak, set[str]] = {}  # leak -> "<observer> <object ref>" it was seen on
        self.seen_refs: set[str] = set()  # objects it scanned events about (bounded by the run's objects)

    def __call__(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        ref = object_ref(dict(event)) or "-"
        if len(self.seen_refs) < 100_000:
            self.seen_refs.add(ref)
        found = scan_event(event, self.matcher)
        if found:
            where = f"{event.get('observer.name', '?')} {ref}"
            for leak in found:
                self.leaks.setdefault(leak, set()).add(where)

    def leaks_on(self, refs: Iterable[str]) -> dict[Leak, set[str]]:
        """The leaks seen on events about these objects (``container:<id>`` ...)."""
        wanted = set(refs)
        out = {}
        for leak, wheres in self.leaks.items():
            mine = {w for w in wheres if w.split(" ", 1)[1] in wanted}
            if mine:
                out[leak] = mine
        return out


def report(leaks: Mapping[Leak, set[str]], limit: int = 40) -> str:
    lines = [f"{leak}  (seen by {', '.join(sorted(wheres))})" for leak, wheres in list(leaks.items())[:limit]]
    more = len(leaks) - limit
    return "\n".join(lines + ([f"... and {more} more"] if more > 0 else []))


__all__ = ["INTENT_WORDS", "Leak", "Matcher", "TelemetryScan", "report", "scan_event", "scenario_needles", "tokens"]
