"""RuleSet: the loaded rules, indexed so that an event only meets the rules that could match it.

The index, built lazily per (event.module, event.dataset) pair and cached:

1. logsource, as ``detectors.sigma.logsources.resolve`` reads it: rules for exactly that module and
   dataset, plus rules for any dataset of the module, plus rules for any module (category-only).  An
   event from another source never reaches a rule.
2. a small decision tree over fields that rules pin to literal values (``event.action: start``):
   the event's value, lowered, picks the branch holding the rules that pinned it plus the rules
   that pin nothing there.  A rule reached that way skips its own test of the routed field.

Everything else runs as compiled closures; the index only ever skips tests that cannot fail.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from detectors.sigma.clauses import Matcher, conjunction
from detectors.sigma.errors import SigmaRuleError
from detectors.sigma.fields import Placeholders
from detectors.sigma.loader import rule_files
from detectors.sigma.rule import CompiledRule, load_rule

_Candidates = tuple[tuple[CompiledRule, Matcher], ...]
# (field to route on or None for a leaf, lowered value -> child, child for a missing field or a value
#  no rule pins, the candidates to run here when the field holds a non-string such as a list)
_Node = tuple[str | None, Mapping[str, Any], Any, _Candidates]
_Entry = tuple[CompiledRule, frozenset[str]]  # a rule and the fields the event was already routed on
_MAX_CACHED_SOURCES = 4096  # distinct (module, dataset) pairs; past that, trees are rebuilt per event
_MAX_DEPTH = 3  # routing levels; each costs one lookup, and rarely more than two fields pay


class RuleSet:
    """A set of compiled rules with unique names and ids. ``match`` is the hot path."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self._rules: dict[str, CompiledRule] = {}
        by_uuid: dict[str, CompiledRule] = {}
        for rule in rules:
            if rule.rule_id in self._rules:
                first = self._rules[rule.rule_id]
                field = "id" if rule.rule_id == rule.uuid else "name"  # a rule without a name goes by its id
                raise SigmaRuleError(rule.path, field, f"duplicate rule {field} {rule.rule_id!r}, also in {first.path}")
            if rule.uuid in by_uuid:
                first = by_uuid[rule.uuid]
                raise SigmaRuleError(rule.path, "id", f"duplicate rule id {rule.uuid!r}, also in {first.path}")
            self._rules[rule.rule_id] = rule
            by_uuid[rule.uuid] = rule
        self._roots: dict[tuple[Any, Any], _Node] = {}

    @classmethod
    def load(cls, sources: str | Path | Iterable[str | Path], placeholders: Placeholders | None = None) -> RuleSet:
        """Load every ``*.yml``/``*.yaml`` under the given directories, and the given files.

        ``placeholders`` resolves ``%name%`` in values of ``|expand`` items (a name may map to one
        string or to several, which become alternatives).  Raises SigmaRuleError on the first bad
        rule and on a duplicate name or id (naming both files).
        """
        return cls(load_rule(path, placeholders) for path in rule_files(sources))

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self) -> Iterator[CompiledRule]:
        return iter(self._rules.values())

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def get(self, rule_id: str) -> CompiledRule | None:
        return self._rules.get(rule_id)

    def reads_for(self, module: Any, dataset: Any) -> frozenset[str]:
        """Every field the rules an event of this module and dataset can meet read."""
        return frozenset().union(*(rule.reads for rule in self._rules.values() if _meets_source(rule, module, dataset)))

    def match(self, event: Mapping[str, Any]) -> list[CompiledRule]:
        """Every rule the event meets, in load order."""
        get = event.get
        key = (get("event.module"), get("event.dataset"))
        try:
            node = self._roots.get(key)
        except TypeError:  # a list where a string belongs: only rules without a product can apply
            key = (None, None)
            node = self._roots.get(key)
        if node is None:
            node = self._root_for(key)
        return _walk(node, event)

    def matcher_for(self, module: Any, dataset: Any) -> Callable[[Mapping[str, Any]], list[CompiledRule]] | None:
        """``match`` for events of this module and dataset (hashable), with their index node looked
        up once (the engine keeps one per source, as it keeps the source's enrichers and analytics);
        None when no rule can meet such an event."""
        node = self._roots.get((module, dataset)) or self._root_for((module, dataset))
        if node[0] is None and not node[3]:
            return None
        return functools.partial(_walk, node)

    def _root_for(self, key: tuple[Any, Any]) -> _Node:
        module, dataset = key
        rules = [rule for rule in self._rules.values() if _meets_source(rule, module, dataset)]
        root = _build_node([(rule, frozenset()) for rule in rules], depth=0)
        if len(self._roots) < _MAX_CACHED_SOURCES:
            self._roots[key] = root
        return root


def _walk(node: _Node, event: Mapping[str, Any]) -> list[CompiledRule]:
    """Every rule under ``node`` (an index root) the event meets, in load order."""
    get = event.get
    field, by_value, unpinned, candidates = node
    while field is not None:
        value = get(field)
        if type(value) is str:
            node = by_value.get(value.lower(), unpinned)
        elif value is None:
            node = unpinned
        else:
            break  # a list or a number: run this node's candidates, which test the field themselves
        field, by_value, unpinned, candidates = node
    # A plain loop: on Python 3.11 a comprehension builds a function object on every call.
    matched: list[CompiledRule] = []
    for rule, matcher in candidates:
        if matcher(event):
            matched.append(rule)
    return matched


def _meets_source(rule: CompiledRule, module: Any, dataset: Any) -> bool:
    source = rule.source
    if source.module is not None and source.module != module:
        return False
    return source.dataset is None or source.dataset == dataset


def _build_node(entries: list[_Entry], depth: int) -> _Node:
    candidates = tuple((rule, _residual(rule, routed)) for rule, routed in entries)
    field = _split_field(entries) if depth < _MAX_DEPTH else None
    if field is None:
        return (None, {}, None, candidates)
    pinned = [entry for entry in entries if field in entry[0].detection.pins]
    unpinned = [entry for entry in entries if field not in entry[0].detection.pins]
    values = sorted({value for rule, _ in pinned for value in rule.detection.pins[field]})
    by_value = {
        value: _build_node(
            [
                entry if field not in entry[0].detection.pins else (entry[0], entry[1] | {field})
                for entry in entries
                if field not in entry[0].detection.pins or value in entry[0].detection.pins[field]
            ],
            depth + 1,
        )
        for value in values
    }
    return (field, by_value, _build_node(unpinned, depth + 1), candidates)


def _split_field(entries: list[_Entry]) -> str | None:
    """The field worth routing on next, or None.

    Worth it when the worst branch holds fewer rules than now, or when at least two rules pin the
    field: a lookup costs less than the two tests it lets them skip, and a value no rule pins then
    reaches no rule at all.
    """
    routed = frozenset().union(*(routed for _, routed in entries)) if entries else frozenset()
    counts = Counter(field for rule, _ in entries for field in rule.detection.pins if field not in routed)
    best: tuple[tuple[int, int, bool, str], str] | None = None
    for field, pinned in counts.items():
        per_value = Counter(value for rule, _ in entries for value in rule.detection.pins.get(field, ()))
        worst = len(entries) - pinned + max(per_value.values())
        if worst >= len(entries) and pinned < 2:
            continue
        score = (worst, -pinned, field != "event.action", field)
        if best is None or score < best[0]:
            best = (score, field)
    return best[1] if best else None


def _residual(rule: CompiledRule, routed: frozenset[str]) -> Matcher:
    """The rule's matcher without the exact tests the routing already decided."""
    if not routed:
        return rule.detection.matcher
    parts = rule.detection.conjuncts()
    kept = [part.matcher for part in parts if part.exact_field not in routed]
    return rule.detection.matcher if len(kept) == len(parts) else conjunction(kept)
