"""Compile one detection item, ``field|modifiers: value(s)``, into a Clause.

Event values may be scalars or lists; a list matches if ANY element matches (for ``|all``: every
rule value must be met by some element).  Type rules, chosen so that a rule never matches by
accident of stringification:

* a string value tests strings, and the decimal text of ints and floats (``port: '80'`` meets 80);
* a number tests numbers by equality, and strings equal to its text;
* a boolean meets only a boolean (``True`` never equals ``"true"`` nor ``1``);
* ``null`` meets a missing field or ``None``; ``|exists`` is its complement;
* ``gt``/``gte``/``lt``/``lte`` only meet numbers; ``fieldref`` is typed equality with another field.
"""

from __future__ import annotations

import functools
import importlib
import ipaddress
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from detectors.sigma.clauses import RANK_EXACT, RANK_FIELD, Clause, Matcher, all_of, any_of
from detectors.sigma.modifiers import Modifiers, parse_modifiers
from detectors.sigma.strings import Pattern, StrTest, any_pattern_test, compile_pattern, has_wildcards, unescape

ValueTest = Callable[[Any], bool]  # decides one scalar event value (never a list)
# The parser ``re`` itself uses, to find the literal a regex requires (``required_literal``); private
# and without stubs, hence looked up by name (``sre_parse``, its public alias, warns on import).
_SRE_PARSER: Any = importlib.import_module("re._parser")
_SRE_LITERAL: Any = importlib.import_module("re._constants").LITERAL
Placeholders = Mapping[str, Sequence[str]]

_PLACEHOLDER = re.compile(r"%(\w+)%")
_SCALARS = (str, int, float, bool, type(None))


class ItemError(ValueError):
    """A detection item is wrong; the caller adds the file and the YAML path."""


def compile_item(key: str, raw_value: Any, placeholders: Placeholders) -> Clause:
    """Compile ``key: raw_value`` where key is ``field|mod|mod``. Raises ItemError."""
    field, *names = key.split("|")
    if not field:
        raise ItemError("a detection item needs a field name (keyword searches are not supported)")
    try:
        modifiers = parse_modifiers(names)
    except ValueError as error:
        raise ItemError(str(error)) from None
    values = _as_values(raw_value)
    operator = modifiers.operator
    if operator == "exists":
        return _compile_exists(field, values)
    if operator == "fieldref":
        tests = [_fieldref_matcher(field, _fieldref_target(value)) for value in values]
        return _combine([Clause(test) for test in tests], modifiers)
    if operator in ("gt", "gte", "lt", "lte"):
        return _per_value(field, [_compare_test(operator, value) for value in values], modifiers)
    if operator == "cidr":
        return _per_value(field, [_cidr_test(value) for value in values], modifiers)
    if operator == "re":
        return _per_value(field, [_regex_test(value, modifiers.regex_flags) for value in values], modifiers)
    return _compile_strings(field, values, modifiers, placeholders)


def _as_values(raw_value: Any) -> list[Any]:
    values = raw_value if isinstance(raw_value, list) else [raw_value]
    if not values:
        raise ItemError("an empty list of values matches nothing; give at least one value")
    for value in values:
        if not isinstance(value, _SCALARS):
            raise ItemError(f"values must be strings, numbers, booleans or null, not {type(value).__name__}")
    return values


# --- plain equality, contains, startswith, endswith ----------------------------------------------


def _compile_strings(field: str, values: list[Any], modifiers: Modifiers, placeholders: Placeholders) -> Clause:
    operator = modifiers.operator
    lead = operator in ("contains", "endswith")
    trail = operator in ("contains", "startswith")
    groups: list[list[Any]] = []  # one group per rule value; expand may turn a value into several
    for value in values:
        if isinstance(value, bool) or value is None:
            if operator is not None:
                raise ItemError(f"'{operator}' needs a string value, not {value!r}")
            groups.append([value])
        elif isinstance(value, (int, float)):
            groups.append([str(value)] if operator is not None else [value])
        elif modifiers.expand:
            groups.append(_expand(value, placeholders))
        else:
            groups.append([value])

    def field_matcher(alternatives: list[Any]) -> Matcher:
        patterns: list[Pattern] = []
        numbers: set[int | float] = set()
        booleans: set[bool] = set()
        null = False
        for item in alternatives:
            if isinstance(item, bool):
                booleans.add(item)
            elif item is None:
                null = True
            elif isinstance(item, (int, float)):
                numbers.add(item)
                patterns.append(Pattern("exact", str(item)))
            else:
                patterns.append(compile_pattern(item, cased=modifiers.cased, lead_any=lead, trail_any=trail))
        str_test = any_pattern_test(patterns, cased=modifiers.cased) if patterns else None
        scalar_test = _scalar_test(str_test, numbers, booleans, null)
        if str_test is None:
            return _field_matcher(field, scalar_test)
        return _string_field_matcher(field, patterns, modifiers.cased, str_test, _any_element(scalar_test), null)

    if modifiers.all:
        return all_of([Clause(field_matcher(group)) for group in groups])
    alternatives = [item for group in groups for item in group]
    pins = _pins(field, values, modifiers)
    # Without |cased the test is exactly "lowered value in pins", so the index may skip it once it
    # has routed the event by this field; |cased still has to compare the original case.
    exact_field = field if pins and not modifiers.cased else None
    rank = RANK_EXACT if exact_field else RANK_FIELD
    return Clause(field_matcher(alternatives), pins, exact_field=exact_field, rank=rank)


def _pins(field: str, values: list[Any], modifiers: Modifiers) -> dict[str, frozenset[str]]:
    if not modifiers.is_plain or modifiers.all:
        return {}
    if not all(isinstance(value, str) and not has_wildcards(value) for value in values):
        return {}
    return {field: frozenset(unescape(value).lower() for value in values)}


def _expand(value: str, placeholders: Placeholders) -> list[str]:
    """Substitute every ``%name%``; a placeholder with several values multiplies the alternatives."""
    pieces = _PLACEHOLDER.split(value)  # literal, name, literal, name, ...
    choices: list[Sequence[str]] = []
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            choices.append([piece])
            continue
        if piece not in placeholders:
            raise ItemError(f"unknown placeholder %{piece}% (known: {', '.join(sorted(placeholders)) or 'none'})")
        replacement = placeholders[piece]
        choices.append([replacement] if isinstance(replacement, str) else list(replacement))
    return ["".join(combination) for combination in itertools.product(*choices)]


def _scalar_test(str_test: StrTest | None, numbers: set[Any], booleans: set[bool], null: bool) -> ValueTest:
    frozen_numbers = frozenset(numbers)
    frozen_booleans = frozenset(booleans)

    def test(value: Any) -> bool:
        kind = type(value)
        if kind is str:
            return str_test is not None and str_test(value)
        if kind is bool:
            return value in frozen_booleans
        if kind is int or kind is float:
            return value in frozen_numbers or (str_test is not None and str_test(str(value)))
        return null and value is None

    return test


# --- the other operators -------------------------------------------------------------------------


def _compile_exists(field: str, values: list[Any]) -> Clause:
    if len(values) != 1 or not isinstance(values[0], bool):
        raise ItemError("'exists' takes a single true or false")
    if values[0]:
        return Clause(lambda event: event.get(field) is not None)
    return Clause(lambda event: event.get(field) is None)


def _compare_test(operator: str, value: Any) -> ValueTest:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ItemError(f"'{operator}' needs a number, not {value!r}")
    bound = value
    if operator == "gt":
        return lambda event_value: _is_number(event_value) and event_value > bound
    if operator == "gte":
        return lambda event_value: _is_number(event_value) and event_value >= bound
    if operator == "lt":
        return lambda event_value: _is_number(event_value) and event_value < bound
    return lambda event_value: _is_number(event_value) and event_value <= bound


def _is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float


def _cidr_test(value: Any) -> ValueTest:
    if not isinstance(value, str):
        raise ItemError(f"'cidr' needs a network such as 198.18.0.0/15, not {value!r}")
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError as error:
        raise ItemError(f"'cidr' value {value!r} is not a network: {error}") from None

    def test(event_value: Any) -> bool:
        if type(event_value) is not str:
            return False
        address = _parse_address(event_value)
        return address is not None and address in network

    return test


@functools.lru_cache(maxsize=8192)
def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # Cached because telemetry repeats the same few addresses and parsing one costs ~1 us.
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _regex_test(value: Any, flags: int) -> ValueTest:
    if not isinstance(value, str):
        raise ItemError(f"'re' needs a string, not {value!r}")
    try:
        search = re.compile(value, flags).search
    except re.error as error:
        raise ItemError(f"invalid regular expression {value!r}: {error}") from None
    # A text every match contains: ``in`` rules out most strings at C speed, where a search that
    # cannot anchor on a literal prefix tries the pattern at every position (a long command line).
    required = required_literal(value, flags)

    def test(event_value: Any) -> bool:
        kind = type(event_value)
        if kind is str:
            return required in event_value and search(event_value) is not None
        if kind is int or kind is float:
            text = str(event_value)
            return required in text and search(text) is not None
        return False

    return test


def required_literal(pattern: str, flags: int = 0) -> str:
    """The longest run of literal characters that every match of ``pattern`` contains ("" if none).

    Only the top level of the parsed pattern is read: its items match one after the other, so each
    plain character there is in every match; anything inside a group, a class, a repeat or an
    alternation is not. Case-insensitive patterns give "" (a literal would have to be case-folded).
    """
    try:
        parsed = _SRE_PARSER.parse(pattern, flags)
    except Exception:  # no literal is always a safe answer; re.compile has judged the pattern
        return ""
    if parsed.state.flags & re.IGNORECASE:
        return ""
    best, run = "", []
    for op, argument in parsed:
        if op is _SRE_LITERAL:
            run.append(chr(argument))
            continue
        best = max(best, "".join(run), key=len)
        run = []
    return max(best, "".join(run), key=len)


def _fieldref_target(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ItemError(f"'fieldref' needs a field name, not {value!r}")
    if has_wildcards(value):
        raise ItemError(f"'fieldref' field name {value!r} must not contain wildcards")
    return unescape(value)


def _fieldref_matcher(field: str, other: str) -> Matcher:
    def matcher(event: Mapping[str, Any]) -> bool:
        left = event.get(field)
        right = event.get(other)
        if left is None or right is None:
            return False
        lefts = left if isinstance(left, (list, tuple)) else (left,)
        rights = right if isinstance(right, (list, tuple)) else (right,)
        return any(_same(a, b) for a in lefts for b in rights)

    return matcher


def _same(left: Any, right: Any) -> bool:
    # 1 == True in Python; a boolean field must not equal a numeric one.
    return left is not None and left == right and (type(left) is bool) == (type(right) is bool)


# --- shared plumbing -----------------------------------------------------------------------------


def _per_value(field: str, tests: list[ValueTest], modifiers: Modifiers) -> Clause:
    if modifiers.all:
        return all_of([Clause(_field_matcher(field, test)) for test in tests])
    if len(tests) == 1:
        return Clause(_field_matcher(field, tests[0]))
    frozen = tuple(tests)
    return Clause(_field_matcher(field, lambda value: any(test(value) for test in frozen)))


def _combine(clauses: list[Clause], modifiers: Modifiers) -> Clause:
    return all_of(clauses) if modifiers.all else any_of(clauses)


def _any_element(test: ValueTest) -> ValueTest:
    """``test`` for a scalar, or ANY element of a list."""

    def non_string(value: Any) -> bool:
        kind = type(value)
        if kind is list or kind is tuple:
            for element in value:  # noqa: SIM110 - a plain loop beats any() on a generator here
                if test(element):
                    return True
            return False
        return test(value)

    return non_string


def _field_matcher(field: str, test: ValueTest) -> Matcher:
    """Apply ``test`` to the field's value, or to ANY element when the value is a list."""
    non_string = _any_element(test)
    return lambda event: non_string(event.get(field))


def _string_field_matcher(
    field: str, patterns: list[Pattern], cased: bool, str_test: StrTest, non_string: ValueTest, null: bool
) -> Matcher:
    """A field matcher whose string case runs in a single frame for the shapes rules use most.

    Strings and missing fields are nearly every value a rule meets; each nested call would cost
    about as much as the comparison itself, so the common shapes get their own closure.
    """
    kinds = {pattern.kind for pattern in patterns}
    texts = [pattern.text for pattern in patterns]
    if cased or len(kinds) != 1 or (kinds == {"contains"} and len(texts) != 1):

        def generic(event: Mapping[str, Any]) -> bool:
            value = event.get(field)
            if type(value) is str:
                return str_test(value)
            if value is None:
                return null
            return non_string(value)

        return generic
    (kind,) = kinds
    if kind == "exact" and len(set(texts)) == 1:
        literal = texts[0]

        def equals(event: Mapping[str, Any]) -> bool:
            value = event.get(field)
            if type(value) is str:
                return value.lower() == literal
            if value is None:
                return null
            return non_string(value)

        return equals
    if kind == "exact":
        members = frozenset(texts)

        def member(event: Mapping[str, Any]) -> bool:
            value = event.get(field)
            if type(value) is str:
                return value.lower() in members
            if value is None:
                return null
            return non_string(value)

        return member
    if kind == "prefix":
        prefixes = tuple(texts)

        def starts(event: Mapping[str, Any]) -> bool:
            value = event.get(field)
            if type(value) is str:
                return value.lower().startswith(prefixes)
            if value is None:
                return null
            return non_string(value)

        return starts
    if kind == "suffix":
        suffixes = tuple(texts)

        def ends(event: Mapping[str, Any]) -> bool:
            value = event.get(field)
            if type(value) is str:
                return value.lower().endswith(suffixes)
            if value is None:
                return null
            return non_string(value)

        return ends
    if kind == "contains":
        infix = texts[0]

        def contains(event: Mapping[str, Any]) -> bool:
            value = event.get(field)
            if type(value) is str:
                return infix in value.lower()
            if value is None:
                return null
            return non_string(value)

        return contains
    return _string_field_matcher(field, patterns, True, str_test, non_string, null)  # globs: generic path
