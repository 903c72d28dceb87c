"""CompiledRule: one Sigma rule's metadata, checked, plus its matcher.

A rule's logsource selects its events through ``detectors.sigma.logsources.resolve`` (the mapping
the pySigma pipeline applies too): ``event.module`` and ``event.dataset`` are left to the rule index,
any further test (``event.category``, a SigmaHQ category's ``event.action``) joins the detection,
and SigmaHQ field names (``Image``) are renamed to the events' own before the detection compiles.

A rule in SigmaHQ's own format carries no ``name``: its identity is then its ``id``.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.sigma.clauses import RANK_LAST, Clause, all_of, any_of
from detectors.sigma.conditions import ConditionError, compile_condition
from detectors.sigma.errors import SigmaRuleError
from detectors.sigma.fields import ItemError, Placeholders, compile_item
from detectors.sigma.loader import read_rule_document
from detectors.sigma.logsources import EventSource, LogSource, resolve

LEVELS = ("informational", "low", "medium", "high", "critical")
STATUSES = ("stable", "test", "experimental", "deprecated", "unsupported")
DEFAULT_LEVEL = "informational"  # Sigma makes level optional; an unrated rule must not outrank a rated one
_TECHNIQUE_TAG = re.compile(r"attack\.(t\d{4}(?:\.\d{3})?)", re.IGNORECASE)
_NON_TACTIC_TAG = re.compile(r"attack\.[gs]\d{4}", re.IGNORECASE)  # groups and software, not tactics


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule_id: str  # Sigma ``name``, else its ``id``: the id alerts carry, e.g. "stowaway.docker.log-driver-none"
    uuid: str  # Sigma ``id``
    title: str
    level: str  # one of LEVELS
    status: str | None
    description: str
    techniques: tuple[str, ...]  # "T1562.001", from attack.t* tags
    tactics: tuple[str, ...]  # "defense-evasion", from the other attack.* tags
    tags: tuple[str, ...]
    falsepositives: tuple[str, ...]
    response: str  # custom attribute: what a responder should do first ("" if the rule gives none)
    fields: tuple[str, ...]
    path: str
    logsource: LogSource  # as written
    source: EventSource  # what the logsource means: detectors.sigma.logsources.resolve(logsource)
    # The compiled detection (with the source's further tests, without event.module/event.dataset,
    # which the index guarantees); RuleSet reads its matcher, pins and conjuncts.
    detection: Clause = field(repr=False, compare=False)
    # Every event field the detection reads (after renaming, fieldref targets included): the engine
    # enriches an event only with the policy fields some rule or analytic that sees it reads.
    reads: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True if the event comes from this rule's logsource and meets its detection."""
        source = self.source
        if source.module is not None and event.get("event.module") != source.module:
            return False
        if source.dataset is not None and event.get("event.dataset") != source.dataset:
            return False
        return self.detection.matcher(event)


def load_rule(path: str | Path, placeholders: Placeholders | None = None) -> CompiledRule:
    """Read and compile one rule file. Raises SigmaRuleError naming the file and the YAML field."""
    path = Path(path)
    return compile_rule(read_rule_document(path), path, placeholders)


def compile_rule(
    document: Mapping[str, Any], path: str | Path, placeholders: Placeholders | None = None
) -> CompiledRule:
    """Check a parsed rule mapping and compile it. ``path`` only labels errors and the result."""
    checker = _Checker(document, str(path))
    # Metadata first, in the order a rule file usually lists it, so the first error is the topmost.
    title = checker.required_string("title")
    name = checker.optional_string("name", non_empty=True)
    rule_uuid = checker.uuid()
    status = checker.choice("status", STATUSES, None)
    description = checker.optional_string("description")
    tags = checker.string_list("tags")
    falsepositives = checker.string_list("falsepositives")
    fields = checker.string_list("fields")
    level = checker.choice("level", LEVELS, DEFAULT_LEVEL) or DEFAULT_LEVEL
    response = checker.optional_string("response")
    logsource = checker.logsource()
    source = resolve(logsource)
    detection = checker.detection(placeholders or {}, source)
    if source.where:
        detection = all_of([_source_clause(checker, source), detection])
    return CompiledRule(
        rule_id=name or rule_uuid,
        uuid=rule_uuid,
        title=title,
        level=level,
        status=status,
        description=description,
        techniques=tuple(_techniques(tags)),
        tactics=tuple(_tactics(tags)),
        tags=tuple(tags),
        falsepositives=tuple(falsepositives),
        response=response,
        fields=tuple(fields),
        path=str(path),
        logsource=logsource,
        source=source,
        detection=detection,
        reads=frozenset(checker.read) | {name for name, _ in source.where},
    )


def _techniques(tags: Sequence[str]) -> list[str]:
    found: list[str] = []
    for tag in tags:
        match = _TECHNIQUE_TAG.fullmatch(tag)
        if match and match.group(1).upper() not in found:
            found.append(match.group(1).upper())
    return found


def _tactics(tags: Sequence[str]) -> list[str]:
    return [
        tag.split(".", 1)[1].lower()
        for tag in tags
        if tag.lower().startswith("attack.")
        and not _TECHNIQUE_TAG.fullmatch(tag)
        and not _NON_TACTIC_TAG.fullmatch(tag)
    ]


def _source_clause(checker: _Checker, source: EventSource) -> Clause:
    """The source's further tests, compiled as the detection items the pySigma pipeline adds."""
    clauses = []
    for name, values in source.where:
        try:
            clause = compile_item(name, list(values), {})
        except ItemError as error:  # pragma: no cover - SOURCES holds plain strings
            raise checker.fail("logsource", str(error)) from None
        # Last in its AND: nearly every event of the rule's source passes, so they rarely decide.
        clauses.append(dataclasses.replace(clause, rank=RANK_LAST))
    return all_of(clauses)


class _Checker:
    """Reads attributes out of the rule mapping, raising SigmaRuleError that names each one."""

    def __init__(self, document: Mapping[str, Any], path: str) -> None:
        self.document = document
        self.path = path
        self.read: set[str] = set()  # every event field a detection item names (``renamed`` adds them)

    def fail(self, field: str, message: str) -> SigmaRuleError:
        return SigmaRuleError(self.path, field, message)

    def required_string(self, name: str) -> str:
        if name not in self.document:
            raise self.fail(name, "is required")
        value = self.document[name]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, f"must be a non-empty string, not {value!r}")
        return value

    def optional_string(self, name: str, non_empty: bool = False) -> str:
        value = self.document.get(name)
        if value is None:
            return ""
        if non_empty and (not isinstance(value, str) or not value.strip()):
            raise self.fail(name, f"must be a non-empty string, not {value!r}")
        if not isinstance(value, str):
            raise self.fail(name, f"must be a string, not {type(value).__name__}")
        return value

    def string_list(self, name: str) -> list[str]:
        value = self.document.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(name, f"must be a list of strings, not {type(value).__name__}")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{name}[{index}]", f"must be a string, not {type(item).__name__}")
            if name == "tags" and "." not in item:
                raise self.fail(f"{name}[{index}]", f"tag {item!r} must be 'namespace.name' (e.g. attack.t1610)")
        return list(value)

    def choice(self, name: str, allowed: Sequence[str], default: str | None) -> str | None:
        value = self.document.get(name)
        if value is None:
            return default
        if value not in allowed:
            raise self.fail(name, f"must be one of {', '.join(allowed)}, not {value!r}")
        return str(value)

    def uuid(self) -> str:
        value = self.required_string("id")
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise self.fail("id", f"must be a UUID, not {value!r}") from None

    def logsource(self) -> LogSource:
        value = self.document.get("logsource")
        if value is None:
            raise self.fail("logsource", "is required")
        if not isinstance(value, dict):
            raise self.fail("logsource", f"must be a mapping, not {type(value).__name__}")
        parts: dict[str, str | None] = {}
        for key in ("product", "service", "category"):
            part = value.get(key)
            if part is not None and (not isinstance(part, str) or not part):
                raise self.fail(f"logsource.{key}", f"must be a non-empty string, not {part!r}")
            parts[key] = part
        if not any(parts.values()):
            raise self.fail("logsource", "needs at least one of product, service, category")
        if parts["service"] and not parts["product"]:
            raise self.fail("logsource.service", "needs logsource.product (event.dataset is '<product>.<service>')")
        return LogSource(**parts)

    def detection(self, placeholders: Placeholders, source: EventSource) -> Clause:
        detection = self.document.get("detection")
        if detection is None:
            raise self.fail("detection", "is required")
        if not isinstance(detection, dict):
            raise self.fail("detection", f"must be a mapping, not {type(detection).__name__}")
        if "condition" not in detection:
            raise self.fail("condition", "detection.condition is required")
        identifiers: dict[str, Clause] = {}
        for name, search in detection.items():
            if name == "condition":
                continue
            if name == "timeframe":
                raise self.fail("detection.timeframe", "timeframe belongs to Sigma correlations; not supported")
            identifiers[str(name)] = self.search(f"detection.{name}", search, placeholders, source)
        if not identifiers:
            raise self.fail("detection", "defines no search identifier")
        return self.condition(detection["condition"], identifiers)

    def search(self, where: str, search: Any, placeholders: Placeholders, source: EventSource) -> Clause:
        if isinstance(search, dict):
            return self.search_map(where, search, placeholders, source)
        if isinstance(search, list) and search and all(isinstance(item, dict) for item in search):
            return any_of(
                [self.search_map(f"{where}[{i}]", item, placeholders, source) for i, item in enumerate(search)]
            )
        if isinstance(search, list) and search and not any(isinstance(item, (dict, list)) for item in search):
            raise self.fail(where, "keywords not supported: events are structured, name the field to search")
        if isinstance(search, list) and not search:
            raise self.fail(where, "an empty search identifier matches nothing")
        raise self.fail(where, "must be a map of fields or a list of such maps")

    def search_map(self, where: str, search: dict[Any, Any], placeholders: Placeholders, source: EventSource) -> Clause:
        if not search:
            raise self.fail(where, "an empty map matches nothing")
        clauses: list[Clause] = []
        for key, value in search.items():
            if not isinstance(key, str):
                raise self.fail(f"{where}.{key}", "a field name must be a string")
            field_name, *modifiers = key.split("|")
            if "fieldref" in modifiers:
                value = [self.renamed(f"{where}.{key}", name, source) if isinstance(name, str) else name
                         for name in (value if isinstance(value, list) else [value])]
            try:
                clauses.append(compile_item("|".join([self.renamed(f"{where}.{key}", field_name, source),
                                                      *modifiers]), value, placeholders))
            except ItemError as error:
                raise self.fail(f"{where}.{key}", str(error)) from None
        return all_of(clauses)

    def renamed(self, where: str, name: str, source: EventSource) -> str:
        """The event field a rule's field name reads (SigmaHQ's ``Image`` is ``process.executable``)."""
        if source.unsupported(name):
            supplied = ", ".join(sorted(source.fields)) or "none"
            raise self.fail(where, f"field '{name}' has no equivalent in Stowaway's events for this logsource "
                                   f"(SigmaHQ fields it supplies: {supplied}; or name an event field, e.g. "
                                   "process.executable)")
        renamed = source.fields.get(name, name)
        self.read.add(renamed)
        return renamed

    def condition(self, condition: Any, identifiers: Mapping[str, Clause]) -> Clause:
        conditions = condition if isinstance(condition, list) else [condition]
        if not conditions or not all(isinstance(item, str) for item in conditions):
            raise self.fail("condition", "must be a string (or a list of strings)")
        try:
            return any_of([compile_condition(item, identifiers) for item in conditions])
        except ConditionError as error:
            raise self.fail("condition", str(error)) from None
