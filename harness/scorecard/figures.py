"""Derived figures of a run, shared by every scorecard format and the gate: coverage, latency,
precision per rule, the summary. The definitions are in ``json_report``'s docstring.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.outcome import Outcome, RunResult, Verdict


def iso_utc(epoch: float) -> str:
    """ISO 8601 in UTC with a Z suffix, the form CI systems and jq users expect."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def concluded(outcome: Outcome) -> bool:
    return outcome.kind == "adversary" and outcome.verdict in (Verdict.DETECTED, Verdict.MISSED)


def coverage_score(outcomes: list[Outcome]) -> int | None:
    """0-100 share of concluded adversary scenarios detected; None when none concluded."""
    judged = [o for o in outcomes if concluded(o)]
    if not judged:
        return None
    detected = sum(o.verdict is Verdict.DETECTED for o in judged)
    return round(100 * detected / len(judged))


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile: with few samples it reports a real measurement, not an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def detection_latencies(outcomes: list[Outcome]) -> list[float]:
    return [
        o.latency_s
        for o in outcomes
        if o.kind == "adversary" and o.verdict is Verdict.DETECTED and o.latency_s is not None
    ]


def false_positive_rules(outcomes: list[Outcome]) -> dict[str, list[str]]:
    """rule id -> scenario ids of benign scenarios on which that rule fired."""
    by_rule: dict[str, list[str]] = {}
    for outcome in outcomes:
        if outcome.verdict is not Verdict.FALSE_POSITIVE:
            continue
        fired = {r.rule_id for r in outcome.rules if r.fired}
        # A false positive verdict without a fired rule result still came from an alert.
        fired |= {str(a.get("rule_id")) for a in outcome.alerts if a.get("rule_id")}
        for rule_id in sorted(fired) or ["(unknown rule)"]:
            by_rule.setdefault(rule_id, []).append(outcome.scenario_id)
    return dict(sorted(by_rule.items()))


def has_variants(run: RunResult) -> bool:
    """Did the run draw variants (``--variants``)? Their rows carry ``variant_of``."""
    return any(o.variant_of for o in run.outcomes)


def techniques_of(outcomes: list[Outcome], variants: bool = False) -> dict[str, list[Outcome]]:
    """technique id -> outcomes that exercise it (or, for benign twins, imitate it), sorted by id.

    Canonical runs only unless ``variants``: coverage is about the procedures a plain run does, so
    twelve variants of one scenario do not outweigh the other scenarios of the technique, and the
    same run scores the same with or without ``--variants`` (variants are scored by robustness).
    """
    by_technique: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.variant_of and not variants:
            continue
        for technique in outcome.techniques:
            by_technique.setdefault(technique, []).append(outcome)
    return dict(sorted(by_technique.items()))


@dataclass(slots=True)
class RulePrecision:
    """One rule's alerts in one run, sorted into true and false positives by where they landed."""

    rule_id: str
    expected: int = 0  # TP: on adversary objects, the scenario expects the rule (fires)
    allowed_collateral: int = 0  # TP: on adversary objects, the scenario allows it (may_fire)
    benign: int = 0  # FP: on benign twins
    soak: int = 0  # FP: on the benign fleet during the soak
    unlisted_collateral: int = 0  # FP: on adversary objects, neither expected nor allowed
    false_positive_on: set[str] = field(default_factory=set)  # scenario ids, and "soak"

    @property
    def true_positives(self) -> int:
        return self.expected + self.allowed_collateral

    @property
    def false_positives(self) -> int:
        return self.benign + self.soak + self.unlisted_collateral

    @property
    def precision(self) -> float | None:
        total = self.true_positives + self.false_positives
        return None if total == 0 else round(self.true_positives / total, 4)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "true_positives": {"expected": self.expected, "allowed_collateral": self.allowed_collateral,
                               "total": self.true_positives},
            "false_positives": {"benign": self.benign, "soak": self.soak,
                                "unlisted_collateral": self.unlisted_collateral, "total": self.false_positives,
                                "on": sorted(self.false_positive_on)},
            "precision": self.precision,
        }


SOAK = "soak"  # where a soak false positive landed, in RulePrecision.false_positive_on


def rule_precision(run: RunResult) -> list[RulePrecision]:
    """Every rule that raised anything in the run, with its true and false positives, by rule id."""
    rows: dict[str, RulePrecision] = {}

    def row(rule_id: str) -> RulePrecision:
        return rows.setdefault(rule_id, RulePrecision(rule_id))

    for outcome in run.outcomes:
        if outcome.kind == "adversary":
            expected = {r.rule_id for r in outcome.rules}
            for alert in outcome.alerts:
                rule_id = str(alert.get("rule_id", ""))
                if rule_id in expected:
                    row(rule_id).expected += 1
            for item in outcome.collateral:
                if item.allowed:
                    row(item.rule_id).allowed_collateral += 1
                else:
                    row(item.rule_id).unlisted_collateral += 1
                    row(item.rule_id).false_positive_on.add(outcome.scenario_id)
        else:
            for alert in outcome.alerts:
                rule_id = str(alert.get("rule_id") or "(unknown rule)")
                row(rule_id).benign += 1
                row(rule_id).false_positive_on.add(outcome.scenario_id)
    if run.soak is not None:
        for alert in run.soak.alerts:
            rule_id = str(alert.get("rule_id") or "(unknown rule)")
            row(rule_id).soak += 1
            row(rule_id).false_positive_on.add(SOAK)
    return [rows[k] for k in sorted(rows)]


def unlisted_collateral(outcomes: list[Outcome]) -> dict[str, list[str]]:
    """rule id -> adversary scenario ids on whose objects it raised unlisted collateral."""
    by_rule: dict[str, list[str]] = {}
    for outcome in outcomes:
        for rule_id in sorted({c.rule_id for c in outcome.unlisted_collateral}):
            by_rule.setdefault(rule_id, []).append(outcome.scenario_id)
    return dict(sorted(by_rule.items()))


def attention_rank(outcome: Outcome) -> int:
    """Order for tables read top-down: the detectors wrong (missed, false positive, unlisted
    collateral) first, then errors, then skips, then passes."""
    if outcome.passed:
        return 3
    return {Verdict.ERROR: 1, Verdict.SKIPPED: 2}.get(outcome.verdict, 0)


def run_state(run: RunResult) -> str:
    """"pass", "incomplete" (only skips stand between the run and a pass) or "fail"."""
    if run.passed:
        return "pass"
    return "incomplete" if run.passed_with(allow_skips=True) else "fail"


def summarize(run: RunResult) -> dict[str, Any]:
    """The run's figures over its canonical rows, so that the headline of a run reads the same with or
    without ``--variants``; the variant rows get the same figures of their own under ``variants``
    (and whether the run passed still counts every row)."""
    canonical = [o for o in run.outcomes if not o.variant_of]
    summary = _figures(run, canonical)
    variant_rows = [o for o in run.outcomes if o.variant_of]
    if variant_rows:
        figures = _figures(run, variant_rows)
        summary["variants"] = {k: figures[k] for k in VARIANT_FIGURES}
    return summary


# What a variants sub-summary carries (the run-wide entries, soak and state, are the run's own).
VARIANT_FIGURES = ("total", "verdicts", "adversary", "benign", "adversary_concluded", "detection_rate",
                   "false_positives", "false_positive_rules", "unlisted_collateral", "unlisted_collateral_rules")


def _figures(run: RunResult, outcomes: list[Outcome]) -> dict[str, Any]:
    counts = Counter(o.verdict.value for o in outcomes)
    adversary = [o for o in outcomes if o.kind == "adversary"]
    judged = [o for o in adversary if concluded(o)]
    detected = sum(o.verdict is Verdict.DETECTED for o in judged)
    latencies = detection_latencies(outcomes)
    median = statistics.median(latencies) if latencies else None
    return {
        "total": len(outcomes),
        "verdicts": {v.value: counts.get(v.value, 0) for v in Verdict},
        "adversary": len(adversary),
        "benign": sum(o.kind == "benign" for o in outcomes),
        "adversary_concluded": len(judged),
        "detection_rate": (detected / len(judged)) if judged else None,
        "false_positives": counts.get(Verdict.FALSE_POSITIVE.value, 0),
        "false_positive_rules": false_positive_rules(outcomes),
        "unlisted_collateral": sum(len(o.unlisted_collateral) for o in outcomes),
        "unlisted_collateral_rules": unlisted_collateral(outcomes),
        "soak_false_positives": 0 if run.soak is None else len(run.soak.alerts),
        "passed": run.passed,
        "state": run_state(run),
        "latency_median_s": _seconds(median),
        "latency_p95_s": _seconds(percentile(latencies, 95)),
    }


def _seconds(value: float | None) -> float | None:
    # Millisecond precision: more digits are float noise (a median of 2.1 and 3.2 is 2.65, not 2.6500000004).
    return None if value is None else round(value, 3)


def technique_rows(run: RunResult) -> list[dict[str, Any]]:
    rows = []
    for technique, outcomes in techniques_of(run.outcomes).items():
        counts = Counter(o.verdict.value for o in outcomes)
        rows.append(
            {
                "technique": technique,
                "scenarios": [o.scenario_id for o in outcomes],
                "verdicts": {v.value: counts.get(v.value, 0) for v in Verdict},
                "adversary": sum(o.kind == "adversary" for o in outcomes),
                "benign": sum(o.kind == "benign" for o in outcomes),
                "coverage": coverage_score(outcomes),
            }
        )
    return rows


# --- render and parse ------------------------------------------------------------------------


