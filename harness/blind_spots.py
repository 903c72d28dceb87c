"""Which documented blind spot of a rule names a miss: the one place that decides it.

A rule's ``blindspots`` say in writing where it cannot see. A variant row that missed is a *known*
gap when a blind spot of one of its expected rules that did not fire names both the scenario and a
``dimension=value`` of the variant (naming the scenario alone would let one admitted gap excuse
every other variant of it). The robustness gate and the run's own pass/fail read the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.outcome import Outcome


def mentions(text: str, token: str) -> bool:
    """``token`` appears in ``text`` as a whole: ``port=80`` is not in ``port=8080``, nor a scenario id in a
    longer one; a sentence's full stop or a backtick around it do not matter."""
    return re.search(rf"(?<![\w.=/-]){re.escape(token)}(?![\w=-]|\.\w)", text) is not None


def label_pairs(outcome: Outcome) -> list[str]:
    """The ``dimension=value`` pairs of a variant row's label (the values that differ from canonical)."""
    label = outcome.scenario_id.partition("@")[2]
    if not label:
        return []
    if outcome.variant:  # from the recorded values, so a value holding a comma stays whole
        return [pair for pair in (f"{k}={v}" for k, v in outcome.variant.items()) if f",{pair}," in f",{label},"]
    return label.split(",")


def naming_blind_spot(outcome: Outcome, rules: Sequence[str],
                      blindspots: Mapping[str, Sequence[str]]) -> tuple[str, str] | None:
    """(rule, blind spot) of the first of ``rules`` whose blind spot names this row, or None."""
    scenario = outcome.variant_of or outcome.scenario_id
    pairs = label_pairs(outcome) if outcome.variant_of else []
    for rule in rules:
        for text in blindspots.get(rule, ()):
            if mentions(text, scenario) and (not outcome.variant_of or any(mentions(text, p) for p in pairs)):
                return rule, text
    return None


def blindspots_of(rule_dirs: Sequence[Path] = ()) -> dict[str, tuple[str, ...]]:
    """rule id -> its documented blind spots, for the rules under ``rule_dirs`` (shipped by default)
    and every analytic. Raises SigmaRuleError for a broken rule file."""
    from harness.detector_catalog import all_detectors  # the catalog loads every rule: only when asked

    return {rule_id: info.blindspots for rule_id, info in all_detectors(rule_dirs).items()}
