"""The compiled Sigma matchers against a plain reference interpreter, rule by rule.

The engine compiles each rule into closures, folds string tests, prefilters regular expressions by a
literal they require, routes events through an index and skips tests the index already decided: all
for speed. ``Reference`` below reads the same YAML the slow, obvious way (every value turned into a
regular expression, every list walked, the condition parsed and evaluated on each event) after the
type rules ``detectors/sigma/fields.py`` documents. For every shipped rule and every SigmaHQ-format
fixture rule, events are made by hand from the rule's own values (each value as it is, changed case,
padded for contains/startswith/endswith, broken by one character, missing, None, in a list, as a
number, ...), one per search identifier and then every field varied, plus a seeded random mix; the
compiled rule, the RuleSet's index and the reference must agree on every one of them.
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detectors.engine import DEFAULT_RULE_DIR
from detectors.sigma import LogSource, RuleSet, load_rule, resolve
from detectors.sigma.fields import required_literal
from detectors.sigma.loader import read_rule_document, rule_files

SIGMAHQ_RULES = Path(__file__).parents[1] / "fixtures" / "sigmahq"
RULE_PATHS = rule_files([DEFAULT_RULE_DIR, SIGMAHQ_RULES])
MISSING = object()  # a field the event does not carry
# Strings for each regular expression a rule uses: the reference cannot invent matches for a regex.
REGEX_SAMPLES = {
    r"(^|[\s;&|])chroot\s+/(host|mnt|rootfs|hostfs)": [
        "chroot /host", "sh -c 'cd /; chroot /mnt sh'", "x|chroot  /hostfs/bin/sh", "chroot /rootfs",
        "nochroot /host", "chroot /other", "CHROOT /host", "chroot\t/mnt", "echo chroot", "",
    ],
}

Event = dict[str, Any]


# --- the reference interpreter ---------------------------------------------------------------------


def wildcard_regex(value: str, operator: str | None) -> str:
    """A Sigma string as a full-match regular expression: * any run, ? one character, \\ escapes them."""
    out, i = [], 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
        i += 1
    body = "".join(out)
    if operator in ("contains", "endswith"):
        body = ".*" + body
    if operator in ("contains", "startswith"):
        body += ".*"
    return body


def is_number(value: Any) -> bool:
    return type(value) in (int, float)


class Reference:
    """One rule, evaluated straight from its YAML on each event."""

    def __init__(self, document: dict[str, Any]) -> None:
        logsource = document["logsource"]
        self.source = resolve(LogSource(logsource.get("product"), logsource.get("service"), logsource.get("category")))
        self.detection = {k: v for k, v in document["detection"].items() if k != "condition"}
        condition = document["detection"]["condition"]
        self.conditions = condition if isinstance(condition, list) else [condition]

    def field(self, name: str) -> str:
        return self.source.fields.get(name, name)

    # items
    def item(self, key: str, values: Any, event: Event) -> bool:
        name, *modifiers = key.split("|")
        field = self.field(name)
        values = values if isinstance(values, list) else [values]
        operators = [m for m in modifiers if m not in ("all", "cased", "i", "m", "s")]
        operator = operators[0] if operators else None
        if operator == "exists":
            return (event.get(field) is not None) == values[0]
        if operator == "fieldref":
            tests = [self.fieldref(event, field, self.field(other)) for other in values]
            return all(tests) if "all" in modifiers else any(tests)
        value = event.get(field, MISSING)
        elements = value if isinstance(value, list) else [None if value is MISSING else value]

        def meets(wanted: Any) -> bool:
            return any(self.value(wanted, element, operator, modifiers) for element in elements)

        return all(meets(v) for v in values) if "all" in modifiers else any(meets(v) for v in values)

    def value(self, wanted: Any, got: Any, operator: str | None, modifiers: list[str]) -> bool:
        if operator == "re":
            flags = 0
            for name, flag in (("i", re.I), ("m", re.M), ("s", re.S)):
                flags |= flag if name in modifiers else 0
            text = got if type(got) is str else str(got) if is_number(got) else None
            return text is not None and re.search(wanted, text, flags) is not None
        if operator == "cidr":
            if type(got) is not str:
                return False
            try:
                return ipaddress.ip_address(got) in ipaddress.ip_network(wanted, strict=False)
            except ValueError:
                return False
        if operator in ("gt", "gte", "lt", "lte"):
            return is_number(got) and {"gt": got > wanted, "gte": got >= wanted, "lt": got < wanted,
                                       "lte": got <= wanted}[operator]
        if type(wanted) is bool:
            return type(got) is bool and got == wanted
        if wanted is None:
            return got is None
        if is_number(wanted) and operator is None and is_number(got) and got == wanted:
            return True
        text = got if type(got) is str else str(got) if is_number(got) else None
        if text is None:
            return False
        pattern = wildcard_regex(str(wanted), operator)
        if "cased" in modifiers:
            return re.fullmatch(pattern, text, re.S) is not None
        return re.fullmatch(wildcard_regex(str(wanted).lower(), operator), text.lower(), re.S) is not None

    @staticmethod
    def fieldref(event: Event, field: str, other: str) -> bool:
        left, right = event.get(field), event.get(other)
        if left is None or right is None:
            return False
        lefts = left if isinstance(left, list) else [left]
        rights = right if isinstance(right, list) else [right]
        return any(a is not None and a == b and (type(a) is bool) == (type(b) is bool) for a in lefts for b in rights)

    # search identifiers and the condition
    def search(self, name: str, event: Event) -> bool:
        search = self.detection[name]
        maps = search if isinstance(search, list) else [search]
        return any(all(self.item(k, v, event) for k, v in m.items()) for m in maps)

    def selected(self, pattern: str) -> list[str]:
        glob = "*" if pattern == "them" else pattern
        return [n for n in self.detection
                if re.fullmatch(wildcard_regex(glob, None), n) and (glob.startswith("_") or not n.startswith("_"))]

    def condition(self, text: str, event: Event) -> bool:
        tokens = re.findall(r"\(|\)|[^\s()]+", text)
        position = 0

        def take() -> str:
            nonlocal position
            position += 1
            return tokens[position - 1]

        def peek() -> str | None:
            return tokens[position] if position < len(tokens) else None

        def expression() -> bool:
            result = conjunction()
            while peek() == "or":
                take()
                right = conjunction()
                result = result or right
            return result

        def conjunction() -> bool:
            result = unary()
            while peek() == "and":
                take()
                right = unary()
                result = result and right
            return result

        def unary() -> bool:
            token = take()
            if token == "not":
                return not unary()
            if token == "(":
                inner = expression()
                take()
                return inner
            if token in ("1", "any", "all") and peek() == "of":
                take()
                results = [self.search(n, event) for n in self.selected(take())]
                return all(results) if token == "all" else any(results)
            return self.search(token, event)

        return expression()

    def matches(self, event: Event) -> bool:
        source = self.source
        if source.module is not None and event.get("event.module") != source.module:
            return False
        if source.dataset is not None and event.get("event.dataset") != source.dataset:
            return False
        for name, values in source.where:
            if not self.item(name, list(values), event):
                return False
        return any(self.condition(condition, event) for condition in self.conditions)


# --- events made from a rule's own values -------------------------------------------------------------


def items(detection: dict[str, Any]) -> Iterator[tuple[str, list[str], list[Any]]]:
    """(field as written, modifiers, values) of every detection item."""
    for name, search in detection.items():
        if name == "condition":
            continue
        for mapping in search if isinstance(search, list) else [search]:
            for key, values in mapping.items():
                field, *modifiers = key.split("|")
                yield field, modifiers, values if isinstance(values, list) else [values]


def instances(value: Any, operator: str | None) -> list[Any]:
    """Event values near a rule value: ones that meet it and ones that just miss."""
    if operator == "re":
        return list(REGEX_SAMPLES.get(value, [required_literal(value), "x"]))
    if operator == "cidr":
        network = ipaddress.ip_network(value, strict=False)
        return [str(network.network_address + 1), str(network.broadcast_address), "192.0.2.1", "not an ip"]
    if operator in ("gt", "gte", "lt", "lte"):
        return [value, value + 1, value - 1, str(value)]
    if operator == "exists":
        return ["present", 0, False]
    if type(value) is bool:
        return [value, not value, str(value).lower(), int(value)]
    if value is None:
        return [None, "", "null"]
    if is_number(value):
        return [value, str(value), value + 1, float(value), f" {value}"]
    text = value.replace("\\*", "*").replace("\\?", "?")
    plain = text.replace("*", "").replace("?", "a")
    filled = text.replace("*", "x y").replace("?", "Z")
    found = [plain, filled, plain.upper(), plain[:-1] + ("q" if plain[-1:] != "q" else "r") if plain else "q"]
    if operator == "contains":
        found += [f"pre {plain} post", f"pre{plain}"]
    if operator == "startswith":
        found += [f"{plain} tail", f"x{plain}"]
    if operator == "endswith":
        found += [f"head {plain}", f"{plain}x"]
    return found


def candidates(document: dict[str, Any], reference: Reference) -> dict[str, list[Any]]:
    """Field -> values worth putting there, for every field the rule reads."""
    found: dict[str, list[Any]] = {}
    for field, modifiers, values in items(document["detection"]):
        operators = [m for m in modifiers if m not in ("all", "cased", "i", "m", "s")]
        operator = operators[0] if operators else None
        name = reference.field(field)
        pool = found.setdefault(name, [MISSING, None, [], 80, "80", True, "OTHER"])
        if operator == "fieldref":
            for other in values:
                found.setdefault(reference.field(other), [MISSING, None, "same", 7]).append("same")
            pool += ["same", 7, ["same", 1]]
            continue
        for value in values:
            made = instances(value, operator)
            pool += [*made, [made[0], "OTHER"], ["OTHER", made[-1]]]
    for name, values in reference.source.where:
        found.setdefault(name, [MISSING, "other"]).extend([*values, [values[0]], values[0].upper()])
    return found


def base_event(reference: Reference) -> Event:
    event: Event = {"event.id": "e", "event.created": 1.0}
    event.update(reference.source.conditions())
    return event


def put(event: Event, field: str, value: Any) -> Event:
    out = dict(event)
    if value is MISSING:
        out.pop(field, None)
    else:
        out[field] = list(value) if isinstance(value, list) else value
    return out


def satisfying(document: dict[str, Any], reference: Reference) -> list[Event]:
    """One event per search map, each of its items given the first value it names."""
    events = []
    for name, search in document["detection"].items():
        if name == "condition":
            continue
        for mapping in search if isinstance(search, list) else [search]:
            event = base_event(reference)
            for key, values in mapping.items():
                field, *modifiers = key.split("|")
                operators = [m for m in modifiers if m not in ("all", "cased", "i", "m", "s")]
                operator = operators[0] if operators else None
                values = values if isinstance(values, list) else [values]
                if operator == "fieldref":
                    event[reference.field(field)] = event[reference.field(values[0])] = "same"
                elif "all" in modifiers:
                    event[reference.field(field)] = " ".join(str(instances(v, operator)[0]) for v in values)
                else:
                    event[reference.field(field)] = instances(values[0], operator)[0]
            events.append(event)
    return events


def made_events(document: dict[str, Any], reference: Reference, randoms: int = 300) -> list[Event]:
    pools = candidates(document, reference)
    seeds = satisfying(document, reference)
    events = list(seeds)
    for seed in seeds:  # each field of each satisfying event varied through its whole pool
        for field, pool in pools.items():
            events += [put(seed, field, value) for value in pool]
    rng = random.Random(len(pools))
    for _ in range(randoms):  # and fields mixed: conditions with not, or, 1 of
        event = dict(rng.choice(seeds))
        for field, pool in pools.items():
            if rng.random() < 0.5:
                event = put(event, field, rng.choice(pool))
        events.append(event)
    events.append(put(seeds[0], "event.module", "elsewhere"))
    events.append(put(seeds[0], "event.dataset", ["a", "list"]))
    return events


# --- the comparisons ------------------------------------------------------------------------------------


def rule_cases() -> list[Any]:
    return [pytest.param(path, id=path.name) for path in RULE_PATHS]


@pytest.mark.parametrize("path", rule_cases())
def test_the_compiled_rule_agrees_with_the_reference(path: Path) -> None:
    document = read_rule_document(path)
    rule, reference = load_rule(path), Reference(document)
    events = made_events(document, reference)
    disagreements = [(e, rule.matches(e)) for e in events if rule.matches(e) != reference.matches(e)]
    assert not disagreements, f"{path.name}: compiled != reference on {disagreements[:3]}"
    assert any(reference.matches(event) for event in events), f"{path.name}: no made event meets the rule"


def test_the_index_agrees_with_each_rule_on_every_made_event() -> None:
    """RuleSet.match (routing by logsource and by pinned values, tests skipped once routed) gives
    exactly the rules whose reference meets the event, in load order."""
    ruleset = RuleSet.load([DEFAULT_RULE_DIR, SIGMAHQ_RULES])
    references = {rule.rule_id: Reference(read_rule_document(Path(rule.path))) for rule in ruleset}
    events = [event for path in RULE_PATHS
              for event in made_events(read_rule_document(path), Reference(read_rule_document(path)), randoms=60)]
    for event in events:
        wanted = [rule.rule_id for rule in ruleset if references[rule.rule_id].matches(event)]
        assert [rule.rule_id for rule in ruleset.match(event)] == wanted, event


def test_a_rule_reads_every_field_its_matcher_looks_at() -> None:
    """``CompiledRule.reads`` decides which policy sections enrich an event: it must name every field."""
    looked: set[str] = set()

    class Recording(dict):  # type: ignore[type-arg]
        def get(self, key: Any, default: Any = None) -> Any:
            looked.add(key)
            return super().get(key, default)

        def __getitem__(self, key: Any) -> Any:
            looked.add(key)
            return super().__getitem__(key)

        def __contains__(self, key: object) -> bool:
            looked.add(str(key))
            return super().__contains__(key)

    for path in RULE_PATHS:
        document = read_rule_document(path)
        rule, reference = load_rule(path), Reference(document)
        looked.clear()
        for event in made_events(document, reference, randoms=50):
            rule.detection.matcher(Recording(event))
        assert looked <= rule.reads, f"{path.name} reads {sorted(looked - rule.reads)} it does not declare"


@pytest.mark.parametrize("pattern", [
    r"(^|[\s;&|])chroot\s+/(host|mnt|rootfs|hostfs)", r"ab?c", r"a|b", r"\.onion$", r"x*yz", r"(?x) a b c",
    r"(?i)Chroot", r"[a-c]+def(gh)?", r"^/tmp/\w+$", r"nsenter\s+-t\s*1\b",
])
def test_the_literal_a_regex_requires_is_in_every_match(pattern: str) -> None:
    required = required_literal(pattern)
    rng = random.Random(pattern)
    alphabet = "abcdefghxyz/.;| \tchrotmpnsuxCHROOT1-"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30))) for _ in range(3000)]
    texts += ["chroot /host", "abc", "ac", "a", "b", ".onion", "yz", "abc", "CHROOT", "bdefgh", "/tmp/x1",
              "nsenter -t 1 -m"]
    for text in texts:
        if re.search(pattern, text):
            assert required in text, (pattern, required, text)
    assert required_literal(r"(^|[\s;&|])chroot\s+/(host|mnt|rootfs|hostfs)") == "chroot"
    assert required_literal(r"(?i)Chroot") == ""  # a case-folded literal would need folding the text too
