"""Sigma string values: wildcards, escapes, and the fastest test that decides each one.

A Sigma string is case-insensitive unless ``|cased``; ``*`` is any run of characters, ``?`` one
character, and a backslash escapes ``*``, ``?`` and itself (a backslash before anything else is a
plain backslash, so ``C:\\Windows`` needs no doubling).  Most values in real rules are a plain literal
or a literal with a leading or trailing ``*``; those become ``==``, ``startswith``, ``endswith`` and
``in`` on ``str`` (C speed) instead of a regex, and all the values of one field are folded into a
single test so the event's string is lowered once, not once per value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

StrTest = Callable[[str], bool]

_ANY = object()  # token for "*"
_ONE = object()  # token for "?"
Token = str | object

PatternKind = Literal["exact", "prefix", "suffix", "contains", "glob"]


def tokenize(value: str) -> list[Token]:
    """Split a Sigma string into literal runs and wildcard tokens, honouring escapes."""
    tokens: list[Token] = []
    literal: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, None)
            if following in ("*", "?", "\\"):
                literal.append(following)
            else:
                # Sigma keeps a backslash that escapes nothing, so Windows paths stay readable.
                literal.append("\\")
                if following is not None:
                    literal.append(following)
            continue
        if char in "*?":
            if literal:
                tokens.append("".join(literal))
                literal = []
            tokens.append(_ANY if char == "*" else _ONE)
            continue
        literal.append(char)
    if literal:
        tokens.append("".join(literal))
    return tokens


def has_wildcards(value: str) -> bool:
    return any(token is _ANY or token is _ONE for token in tokenize(value))


def unescape(value: str) -> str:
    """The literal text of a wildcard-free Sigma string (escapes removed)."""
    return "".join(token for token in tokenize(value) if isinstance(token, str))


@dataclass(frozen=True, slots=True)
class Pattern:
    """One string value reduced to the cheapest test that decides it."""

    kind: PatternKind
    text: str  # the literal for exact/prefix/suffix/contains, already lowered unless cased
    regex: re.Pattern[str] | None = None  # only for "glob"


def compile_pattern(value: str, *, cased: bool, lead_any: bool = False, trail_any: bool = False) -> Pattern:
    """Reduce one Sigma string (plus the ``*`` that contains/startswith/endswith add) to a Pattern."""
    tokens = tokenize(value)
    if lead_any and (not tokens or tokens[0] is not _ANY):
        tokens.insert(0, _ANY)
    if trail_any and (not tokens or tokens[-1] is not _ANY):
        tokens.append(_ANY)
    tokens = _collapse_stars(tokens)
    fold: Callable[[str], str] = (lambda text: text) if cased else str.lower
    literals = [token for token in tokens if isinstance(token, str)]
    shape = tuple("L" if isinstance(token, str) else ("*" if token is _ANY else "?") for token in tokens)
    if shape == ():
        return Pattern("exact", "")
    if shape == ("*",):
        return Pattern("contains", "")  # a lone "*" matches every string, including ""
    if shape == ("L",):
        return Pattern("exact", fold(literals[0]))
    if shape == ("L", "*"):
        return Pattern("prefix", fold(literals[0]))
    if shape == ("*", "L"):
        return Pattern("suffix", fold(literals[0]))
    if shape == ("*", "L", "*"):
        return Pattern("contains", fold(literals[0]))
    parts = []
    for token in tokens:
        if isinstance(token, str):
            parts.append(re.escape(fold(token)))
        elif token is _ANY:
            parts.append(".*")
        else:  # _ONE
            parts.append(".")
    return Pattern("glob", value, re.compile("".join(parts), re.DOTALL))


def _collapse_stars(tokens: list[Token]) -> list[Token]:
    collapsed: list[Token] = []
    for token in tokens:
        if token is _ANY and collapsed and collapsed[-1] is _ANY:
            continue
        collapsed.append(token)
    return collapsed


def any_pattern_test(patterns: Sequence[Pattern], *, cased: bool) -> StrTest:
    """One test on the raw event string that is true if ANY pattern matches (lowering it once)."""
    exact = frozenset(p.text for p in patterns if p.kind == "exact")
    prefixes = tuple(p.text for p in patterns if p.kind == "prefix")
    suffixes = tuple(p.text for p in patterns if p.kind == "suffix")
    infixes = tuple(p.text for p in patterns if p.kind == "contains")
    globs = tuple(p.regex.fullmatch for p in patterns if p.regex is not None)
    if "" in infixes:
        return lambda value: True
    checks: list[StrTest] = []
    if exact:
        checks.append(_exact_test(exact))
    if prefixes:
        checks.append(lambda folded: folded.startswith(prefixes))
    if suffixes:
        checks.append(lambda folded: folded.endswith(suffixes))
    if infixes:
        checks.append(_contains_test(infixes))
    if globs:
        checks.append(lambda folded: any(match(folded) is not None for match in globs))
    folded_test = _first_true(checks)
    if cased:
        return folded_test
    if len(checks) == 1 and exact and len(exact) == 1:
        (only,) = exact
        return lambda value: value.lower() == only
    return lambda value: folded_test(value.lower())


def _exact_test(exact: frozenset[str]) -> StrTest:
    if len(exact) == 1:
        (only,) = exact
        return lambda folded: folded == only
    return exact.__contains__


def _contains_test(infixes: tuple[str, ...]) -> StrTest:
    if len(infixes) == 1:
        (only,) = infixes
        return lambda folded: only in folded
    return lambda folded: any(infix in folded for infix in infixes)


def _first_true(checks: list[StrTest]) -> StrTest:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda folded: first(folded) or second(folded)
    return lambda folded: any(check(folded) for check in checks)
