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
  It is tested per event (a dict lookup is cheaper than a call that returns at once).

A declaration is a promise that the component provably ignores everything else: its own code tests
those values first. The routing never decides anything the component would not have decided itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# A policy section's enrich and the field it needs (None: call it on every event of the route).
Enricher = tuple[str | None, Callable[[dict[str, Any]], Any]]


def applies(component: Any, module: Any, dataset: Any, datasets_attr: str, modules_attr: str) -> bool:
    """Whether ``component`` can act on events of this module and dataset, by its own declaration."""
    datasets = getattr(component, datasets_attr, None)
    modules = getattr(component, modules_attr, None)
    if datasets is None and modules is None:
        return True
    return (datasets is not None and dataset in datasets) or (modules is not None and module in modules)


def enrichers_for(sections: Iterable[Any], key: tuple[Any, Any] | None) -> tuple[Enricher, ...]:
    """The enrich calls an event from ``key`` = (module, dataset) needs, in section order.

    ``key`` None (a module or dataset that is not even hashable, or routing switched off): every
    section, ungated, exactly as ``Policy.enrich`` runs them.
    """
    if key is None:
        return tuple((None, section.enrich) for section in sections)
    module, dataset = key
    return tuple((getattr(section, "requires_field", None), section.enrich) for section in sections
                 if applies(section, module, dataset, "applies_to", "applies_to_modules"))


def observers_for(analytics: Iterable[Any], key: tuple[Any, Any] | None) -> tuple[Callable[..., Any], ...]:
    """The ``observe`` methods an event from ``key`` needs, in analytic order (all of them for None)."""
    if key is None:
        return tuple(analytic.observe for analytic in analytics)
    module, dataset = key
    return tuple(analytic.observe for analytic in analytics
                 if applies(analytic, module, dataset, "datasets", "modules"))
