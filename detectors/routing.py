"""Which policy enrichers and analytics an event needs, decided once per (event.module, event.dataset).

Most of them act on a few datasets only and return at once on the rest; a call that returns at
once still costs a call, on every event. The engine therefore asks each one, once per source, whether
it can act there, the way the Sigma RuleSet indexes rules by logsource, and keeps a dispatch list.

What a component may declare (all optional; without a declaration it sees every event, so a user's
extension keeps working unchanged):

- ``datasets: ClassVar[frozenset[str]]`` (analytics) / ``applies_to: ClassVar[frozenset[str]]``
  (policy sections): the ``event.dataset`` values it can act on;
- ``modules: ClassVar[frozenset[str]]`` (analytics) / ``applies_to_modules`` (policy sections): the
  ``event.module`` values it can act on, whatever the dataset. With both, either one is enough;
- ``requires_field: ClassVar[str]`` (policy sections): a field without which ``enrich`` does nothing.
  It is tested per event (a dict lookup is cheaper than a call that returns at once);
- ``writes: ClassVar[tuple[str, ...]]`` (policy sections): every field ``enrich`` may write;
- ``reads: ClassVar[tuple[str, ...]]`` (analytics): every field a policy section writes that the
  analytic may read, in ``observe``, in ``tick`` or in the alerts it makes (events it keeps
  included); ``reads_on: ClassVar[Mapping[str, tuple[str, ...]]]`` adds what it reads on one
  dataset only.

In ``writes`` and ``reads`` a name ending in ``.`` stands for every field under it.

Enrichment is demand-driven: a section whose ``writes`` no reader of the event's source reads (the
rules that source can reach, through ``RuleSet.reads_for``, and the analytics routed to it) is not
called, since nothing would ever look at what it wrote. A reader that declares nothing reads
everything, so every section runs for its sources.

A declaration is a promise that the component provably ignores everything else: its own code tests
those values first. The routing never decides anything the component would not have decided itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# A policy section's enrich and the field it needs (None: call it on every event of the route).
Enricher = tuple[str | None, Callable[[dict[str, Any]], Any]]
# Fields someone reads (names, or prefixes ending in "."); None: unknown, so everything.
Needed = frozenset[str] | None


def applies(component: Any, module: Any, dataset: Any, datasets_attr: str, modules_attr: str) -> bool:
    """Whether ``component`` can act on events of this module and dataset, by its own declaration."""
    datasets = getattr(component, datasets_attr, None)
    modules = getattr(component, modules_attr, None)
    if datasets is None and modules is None:
        return True
    return (datasets is not None and dataset in datasets) or (modules is not None and module in modules)


def overlaps(reads: Iterable[str], writes: Iterable[str]) -> bool:
    """Whether a field in ``reads`` is one in ``writes`` (either side may name a prefix ending in ".")."""
    for read in reads:
        for written in writes:
            if read == written or (written.endswith(".") and read.startswith(written)) \
                    or (read.endswith(".") and written.startswith(read)):
                return True
    return False


def routed_analytics(analytics: Iterable[Any], key: tuple[Any, Any] | None) -> list[Any]:
    """The analytics an event from ``key`` = (module, dataset) reaches, in order (all of them for None)."""
    if key is None:
        return list(analytics)
    module, dataset = key
    return [analytic for analytic in analytics if applies(analytic, module, dataset, "datasets", "modules")]


def needed_fields(rule_reads: Needed, analytics: Iterable[Any], key: tuple[Any, Any] | None) -> Needed:
    """Every field the readers of an event from ``key`` read: the rules' (``rule_reads``) and those
    ``analytics`` (the ones routed to ``key``) declare. None when one of them does not say."""
    if key is None or rule_reads is None:
        return None
    needed = set(rule_reads)
    for analytic in analytics:
        reads = getattr(analytic, "reads", None)
        if reads is None:
            return None
        needed.update(reads)
        needed.update((getattr(analytic, "reads_on", None) or {}).get(key[1], ()))
    return frozenset(needed)


def enrichers_for(sections: Iterable[Any], key: tuple[Any, Any] | None, needed: Needed = None) -> tuple[Enricher, ...]:
    """The enrich calls an event from ``key`` = (module, dataset) needs, in section order: those that
    can act on it and write a field in ``needed`` (all that can act, for ``needed`` None).

    ``key`` None (a module or dataset that is not even hashable, or routing switched off): every
    section, ungated, exactly as ``Policy.enrich`` runs them.
    """
    if key is None:
        return tuple((None, section.enrich) for section in sections)
    module, dataset = key
    return tuple((getattr(section, "requires_field", None), section.enrich) for section in sections
                 if applies(section, module, dataset, "applies_to", "applies_to_modules")
                 and _read(section, needed))


def _read(section: Any, needed: Needed) -> bool:
    writes = getattr(section, "writes", None)
    return needed is None or writes is None or overlaps(needed, writes)


def observers_for(analytics: Iterable[Any], key: tuple[Any, Any] | None) -> tuple[Callable[..., Any], ...]:
    """The ``observe`` methods an event from ``key`` needs, in analytic order (all of them for None)."""
    return tuple(analytic.observe for analytic in routed_analytics(analytics, key))
