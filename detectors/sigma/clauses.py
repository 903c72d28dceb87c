"""Clauses: compiled matchers plus what they reveal to the rule index, and how they combine.

A matcher is a closure ``event -> bool``.  Combining them here (rather than walking a tree per
event) means an event costs one Python call per field test and nothing else.  ``pins`` records, for
a field, the lowered literals one of which the field must equal for the clause to be true; the rule
index uses it to skip rules an event cannot meet.  Pins are always a superset filter: dropping one is
never wrong, only slower.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Matcher = Callable[[Mapping[str, Any]], bool]
Pins = Mapping[str, frozenset[str]]
RANK_EXACT, RANK_FIELD, RANK_OR, RANK_NOT, RANK_LAST = 0, 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class Clause:
    matcher: Matcher
    pins: Pins = field(default_factory=dict)
    parts: tuple[Clause, ...] = ()  # an AND's conjuncts, flattened; empty for any other clause
    # Set when the clause is true exactly when event[exact_field] is a string whose lowered value is
    # in pins[exact_field]: once the index has routed an event by that value, the test can be skipped.
    exact_field: str | None = None
    # Evaluation order inside an AND, cheapest and most often false first; AND has no side effects,
    # so only speed changes: routed-away exact tests, field tests, ORs, NOTs (filters mostly pass).
    rank: int = RANK_FIELD

    def conjuncts(self) -> tuple[Clause, ...]:
        return self.parts or (self,)


def all_of(clauses: Sequence[Clause]) -> Clause:
    """AND: every clause must hold, so any child's pin holds for the whole (intersect repeats)."""
    parts = tuple(sorted((part for clause in clauses for part in clause.conjuncts()), key=_rank))
    if len(parts) == 1:
        return parts[0]
    pins: dict[str, frozenset[str]] = {}
    for part in parts:
        for name, values in part.pins.items():
            pins[name] = pins[name] & values if name in pins else values
    return Clause(conjunction([part.matcher for part in parts]), pins, parts, rank=max(part.rank for part in parts))


def _rank(clause: Clause) -> int:
    return clause.rank


def any_of(clauses: Sequence[Clause]) -> Clause:
    """OR: a field is pinned only if every branch pins it; the allowed values are their union."""
    if len(clauses) == 1:
        return clauses[0]
    matchers = [clause.matcher for clause in clauses]
    pins: dict[str, frozenset[str]] = {}
    if clauses:
        shared = set(clauses[0].pins)
        for clause in clauses[1:]:
            shared &= set(clause.pins)
        for name in shared:
            pins[name] = frozenset().union(*(clause.pins[name] for clause in clauses))
    return Clause(_or(matchers), pins, rank=RANK_OR)


def negate(clause: Clause) -> Clause:
    inner = clause.matcher
    return Clause(lambda event: not inner(event), rank=RANK_NOT)


def conjunction(matchers: Sequence[Matcher]) -> Matcher:
    """One matcher that is true when all are (true for none)."""
    # Unrolled for the common small arities: a loop or all() costs more than the tests themselves.
    if not matchers:
        return lambda event: True
    if len(matchers) == 1:
        return matchers[0]
    if len(matchers) == 2:
        first, second = matchers
        return lambda event: first(event) and second(event)
    if len(matchers) == 3:
        first, second, third = matchers
        return lambda event: first(event) and second(event) and third(event)
    frozen = tuple(matchers)

    def every(event: Mapping[str, Any]) -> bool:
        for matcher in frozen:  # noqa: SIM110 - a plain loop beats any()/all() on a generator here
            if not matcher(event):
                return False
        return True

    return every


def _or(matchers: list[Matcher]) -> Matcher:
    if len(matchers) == 1:
        return matchers[0]
    if len(matchers) == 2:
        first, second = matchers
        return lambda event: first(event) or second(event)
    if len(matchers) == 3:
        first, second, third = matchers
        return lambda event: first(event) or second(event) or third(event)
    frozen = tuple(matchers)

    def some(event: Mapping[str, Any]) -> bool:
        for matcher in frozen:  # noqa: SIM110 - a plain loop beats any()/all() on a generator here
            if matcher(event):
                return True
        return False

    return some
