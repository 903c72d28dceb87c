"""The pySigma processing pipeline ``stowaway``: Stowaway's rules, and SigmaHQ's, on Stowaway's events.

Besides ``detectors.sigma.pipelines.stowaway``, this file is installed as the module
``sigma.pipelines.stowaway`` (pyproject.toml maps this directory, which has no ``__init__.py``, onto
pySigma's ``sigma.pipelines`` namespace). pySigma's plugin discovery imports every module of that
namespace and registers what its ``pipelines`` dict holds, so sigma-cli finds it by name::

    sigma convert -p stowaway -t sqlite detectors/rules

It applies the logsource table of ``detectors.sigma.logsources``, the one the local engine reads:
SigmaHQ field names become the events' own (``Image`` -> ``process.executable``), a SigmaHQ field
with no equivalent fails the conversion naming the field, and every rule gets its logsource's tests
(``event.module``, ``event.dataset``, and ``event.category`` or ``event.action`` where the table says
so). Field names are otherwise kept: the events already use ECS-style dotted names. ``policy.*``
fields are enrichment the SIEM's ingest must add (docs/sigma.md).

Written against what pySigma 1.5 (sigma-cli 3.x) and 2.0 (the test extra) both offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaTransformationError
from sigma.processing.conditions import IncludeFieldCondition, RuleProcessingCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    DetectionItemFailureTransformation,
    FieldMappingTransformation,
)
from sigma.rule import SigmaDetectionItem, SigmaRule

from detectors.sigma.logsources import SOURCES, EventSource, LogSource, resolve

__all__ = ["pipelines", "stowaway_pipeline"]

CONDITION_NAME = "_stowaway_logsource"  # the search identifier the logsource's tests are added as


def logsource_of(rule: SigmaRule) -> LogSource:
    source = rule.logsource
    return LogSource(source.product, source.service, source.category)


@dataclass
class IsLogSource(RuleProcessingCondition):
    """A rule whose logsource is exactly one of ``logsources`` (pySigma's LogsourceCondition also
    takes a rule that names more than it asks for, which would give a row's renames to its neighbours)."""

    logsources: tuple[LogSource, ...] = ()

    def match(self, rule: SigmaRule | SigmaCorrelationRule) -> bool:
        return isinstance(rule, SigmaRule) and logsource_of(rule) in self.logsources


@dataclass
class AddSourceConditions(AddConditionTransformation):
    """Adds, to every rule, the tests ``detectors.sigma.logsources.resolve`` gives its logsource (a
    table row, or the generic rule): the conditions are chosen per rule, then added as usual."""

    name: str = field(default=CONDITION_NAME, compare=False)

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        if isinstance(rule, SigmaRule):
            self.conditions = {name: value for name, value in resolve(logsource_of(rule)).conditions().items()}
        super().apply(rule)


@dataclass
class UnsupportedField(DetectionItemFailureTransformation):
    """Fails the conversion on a field the logsource's row does not supply, naming the field."""

    message: str = "field '{field}' has no equivalent in Stowaway's events for this logsource"

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> None:
        raise SigmaTransformationError(self.message.format(field=detection_item.field), source=detection_item.source)


def _taxonomy_rows() -> list[tuple[EventSource, tuple[LogSource, ...]]]:
    """The SigmaHQ rows of the table, each with every logsource that reads it."""
    rows: list[tuple[EventSource, list[LogSource]]] = []
    for logsource, source in SOURCES.items():
        if not source.taxonomy:
            continue
        for known, logsources in rows:
            if known is source:
                logsources.append(logsource)
                break
        else:
            rows.append((source, [logsource]))
    return [(source, tuple(logsources)) for source, logsources in rows]


def stowaway_pipeline() -> ProcessingPipeline:
    items: list[ProcessingItem] = []
    for source, logsources in _taxonomy_rows():
        label = "+".join(sorted({part for ls in logsources for part in (ls.product, ls.category) if part}))
        renames: dict[str | None, str | list[str]] = {name: event_field for name, event_field in source.fields.items()}
        items.append(ProcessingItem(
            identifier=f"stowaway_fields_{label}", transformation=FieldMappingTransformation(renames),
            rule_conditions=[IsLogSource(logsources)],
        ))
        supplied = ", ".join(sorted(source.fields))
        items.append(ProcessingItem(
            identifier=f"stowaway_unsupported_{label}",
            transformation=UnsupportedField(
                "field '{field}' has no equivalent in Stowaway's events for this logsource (SigmaHQ fields it "
                f"supplies: {supplied}; other fields must be named as the events name them, e.g. process.executable)"),
            rule_conditions=[IsLogSource(logsources)],
            # After the renames above: a name still without a dot is SigmaHQ's, and unsupplied.
            field_name_conditions=[IncludeFieldCondition(fields=[r"^[^.]+$"], mode="re")],
        ))
    items.append(ProcessingItem(identifier="stowaway_logsource", transformation=AddSourceConditions()))
    return ProcessingPipeline(name="Stowaway events (detectors.sigma.logsources)", priority=20, items=items)


pipelines = {"stowaway": stowaway_pipeline}
