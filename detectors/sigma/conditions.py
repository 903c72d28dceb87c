"""Parse a Sigma condition and wire the compiled search identifiers into one Clause.

Grammar (Sigma 2.0, keywords lower-case as in pySigma, precedence ``not`` > ``and`` > ``or``)::

    expr     := and_expr ("or" and_expr)*
    and_expr := unary ("and" unary)*
    unary    := "not" unary | "(" expr ")" | quantity "of" pattern | identifier
    quantity := "1" | "any" | "all"
    pattern  := "them" | identifier with "*" wildcards

``them`` and patterns skip identifiers that start with ``_`` (unless the pattern itself does), as
pySigma does, so helper selections stay out of ``1 of them``.  Aggregations (``| count() ...``)
belong to Sigma correlations and are refused.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

from detectors.sigma.clauses import Clause, all_of, any_of, negate

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]+")
_PATTERN = re.compile(r"[A-Za-z0-9_*]+")


class ConditionError(ValueError):
    """The condition is malformed or names an unknown search identifier."""


def compile_condition(condition: str, identifiers: Mapping[str, Clause]) -> Clause:
    if "|" in condition:
        raise ConditionError("aggregations ('| count() ...') are not supported; use a Sigma correlation")
    tokens = _tokenize(condition)
    if not tokens:
        raise ConditionError("the condition is empty")
    parser = _Parser(tokens, identifiers)
    clause = parser.expression()
    if parser.position != len(tokens):
        raise ConditionError(f"unexpected '{tokens[parser.position]}' in {condition!r}")
    return clause


def _tokenize(condition: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    condition = condition.rstrip()
    while position < len(condition):
        match = _TOKEN.match(condition, position)
        if match is None:  # pragma: no cover - the token regex accepts any non-space run
            raise ConditionError(f"cannot read {condition[position:]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], identifiers: Mapping[str, Clause]) -> None:
        self.tokens = tokens
        self.identifiers = identifiers
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ConditionError("the condition ends too early")
        self.position += 1
        return token

    def expression(self) -> Clause:
        branches = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            branches.append(self.conjunction())
        return branches[0] if len(branches) == 1 else any_of(branches)

    def conjunction(self) -> Clause:
        parts = [self.unary()]
        while self.peek() == "and":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else all_of(parts)

    def unary(self) -> Clause:
        token = self.take()
        if token == "not":
            return negate(self.unary())
        if token == "(":
            inner = self.expression()
            if self.take() != ")":
                raise ConditionError("a '(' is never closed")
            return inner
        if token in ("1", "any", "all") and self.peek() == "of":
            self.take()
            selected = self.select(self.take())
            return all_of(selected) if token == "all" else any_of(selected)
        if token in ("and", "or", "of", ")"):
            raise ConditionError(f"unexpected '{token}'")
        if not _IDENTIFIER.fullmatch(token):
            raise ConditionError(f"'{token}' is not a search identifier")
        if token not in self.identifiers:
            raise ConditionError(f"search identifier '{token}' is not defined in detection")
        return self.identifiers[token]

    def select(self, pattern: str) -> list[Clause]:
        if pattern != "them" and not _PATTERN.fullmatch(pattern):
            raise ConditionError(f"'{pattern}' is not an identifier pattern")
        glob = "*" if pattern == "them" else pattern
        selected = [
            clause
            for name, clause in self.identifiers.items()
            if fnmatch.fnmatchcase(name, glob) and (glob.startswith("_") or not name.startswith("_"))
        ]
        if not selected:
            raise ConditionError(f"'{pattern}' matches no search identifier")
        return selected
