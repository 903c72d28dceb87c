"""The declarations demand-driven enrichment trusts (``detectors.routing``) are true of the code.

A policy section is called only where a rule or an analytic reads a field in its ``writes``; an
analytic's ``reads`` (and ``reads_on``) say which policy fields it reads. A section that writes a
field it does not declare, or an analytic that reads a policy field it does not declare, could lose
a detection without any other test noticing on the events at hand. Both are checked here on every
recorded fixture and the bench's generated mix, by running the unrouted engine (every section
enriches every event) and recording what each analytic looks up, including on the events it keeps
and reads at a later tick. A rule's ``reads`` is checked in ``test_sigma_reference``.
"""

from __future__ import annotations

import copy
from typing import Any

from detectors.analytics import default_analytics
from detectors.engine import DetectionEngine, load_rules
from detectors.policies import load_policy
from detectors.routing import overlaps
from harness.bench.telemetry import generate
from tests.unit.test_engine_routing import FIXTURE_FILES, recorded

POLICY = load_policy()


def stream() -> list[dict[str, Any]]:
    events = [e for path in FIXTURE_FILES for e in recorded(path)]
    events.sort(key=lambda e: e["event.created"] if isinstance(e.get("event.created"), int | float) else 0.0)
    return events + list(generate(4000, seed=11))


def test_every_section_declares_what_it_writes():
    sections = list(POLICY.sections.values())
    assert all(getattr(section, "writes", None) is not None for section in sections)  # shipped ones all say
    for original in stream():
        event = copy.deepcopy(original)
        for section in sections:
            before = dict(event)
            try:
                section.enrich(event)
            except Exception:  # a malformed event: what a section does to it is counted, not enriched
                continue
            written = {key for key in event if key not in before or event[key] != before[key]}
            undeclared = {key for key in written if not overlaps([key], section.writes)}
            assert not undeclared, f"{type(section).__name__} writes {sorted(undeclared)}, not in its writes"


class Recording(dict):  # type: ignore[type-arg]
    """An event that notes every ``policy.*`` field looked up in it, with its dataset."""

    def __init__(self, event: dict[str, Any], seen: set[tuple[Any, str]]) -> None:
        super().__init__(event)
        self._seen = seen
        self._dataset = event.get("event.dataset")

    def _note(self, key: Any) -> None:
        if isinstance(key, str) and key.startswith("policy."):
            self._seen.add((self._dataset, key))

    def get(self, key: Any, default: Any = None) -> Any:
        self._note(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._note(key)
        return super().__contains__(key)


def test_every_analytic_declares_the_policy_fields_it_reads():
    analytics = default_analytics(POLICY)
    seen: dict[str, set[tuple[Any, str]]] = {}
    for analytic in analytics:
        assert getattr(analytic, "reads", None) is not None, f"{type(analytic).__name__} declares no reads"
        noted = seen.setdefault(analytic.rule_id, set())
        observe = analytic.observe

        def recording(event: dict[str, Any], observe: Any = observe, noted: set[tuple[Any, str]] = noted) -> Any:
            return observe(Recording(event, noted))

        analytic.observe = recording  # type: ignore[method-assign]
    engine = DetectionEngine(load_rules(), POLICY, analytics, route=False)
    last = float("-inf")
    for original in stream():
        event = copy.deepcopy(original)
        engine.process(event)
        created = event.get("event.created")
        if type(created) is float and created - last >= 1.0:
            last = created
            engine.tick(created)
    engine.tick(last + 3600.0)
    for analytic in analytics:
        declared = tuple(analytic.reads or ())
        for dataset, key in seen[analytic.rule_id]:
            allowed = declared + tuple(getattr(analytic, "reads_on", {}).get(dataset, ()))
            assert overlaps([key], allowed), f"{type(analytic).__name__} reads {key} on {dataset}, undeclared"
    assert any(seen.values())  # the recording saw real reads
