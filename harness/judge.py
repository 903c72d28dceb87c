"""Judging one scenario: a pure decision from what it expected and what was raised on its objects.

The runner waits (an adversary's deadline, a twin's window) and attributes alerts to the scenario
by its objects and time; it then hands them here. Nothing in this module waits, reads a clock or
touches the lab, so every verdict can be tested with hand-made alerts.

Every alert is judged:

* adversary: each rule in ``fires`` must have alerted (detected, else missed). An alert from any
  other rule is collateral: allowed when ``may_fire`` names the rule (a true positive of it: the
  object really is hostile and the scenario says why), unlisted otherwise (a false positive of it,
  which fails the outcome without changing its detected/missed verdict);
* benign: any alert at all is a false positive, whichever rule raised it. An honest workload must
  stay quiet under every rule, not only the ones its twin was written for.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from detectors.alert import Alert
from harness.outcome import Collateral, RuleResult, Verdict, Visibility
from scenarios.api import Expectation, Kind


@dataclass(frozen=True, slots=True)
class Judgement:
    """The Outcome fields a judgement decides."""

    verdict: Verdict
    reason: str  # one sentence: why this verdict
    visibility: Visibility
    latency_s: float | None  # worst latency over the expected rules (detected adversary only)
    rules: tuple[RuleResult, ...]  # one per expected (adversary) or watched (benign) rule
    collateral: tuple[Collateral, ...]  # adversary only, sorted by rule then object


def judge(kind: Kind, expect: Expectation, alerts: Sequence[Alert], action_at: float,
          data_sources: Collection[str]) -> Judgement:
    """Decide one scenario's outcome.

    ``alerts`` are those attributed to the scenario's objects (already deduplicated per rule and
    object by the monitor); ``action_at`` is when the scenario recorded its decisive action, the
    zero of every latency; ``data_sources`` are the sensors that saw any of its objects.
    """
    by_rule: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_rule.setdefault(alert.rule_id, []).append(alert)
    if kind is Kind.ADVERSARY:
        return _adversary(expect, alerts, by_rule, action_at, data_sources)
    return _benign(expect, by_rule, data_sources)


def _adversary(expect: Expectation, alerts: Sequence[Alert], by_rule: dict[str, list[Alert]],
               action_at: float, data_sources: Collection[str]) -> Judgement:
    rules = []
    for rule_id in expect.fires:
        hits = by_rule.get(rule_id, [])
        first = min((a.raised_at for a in hits), default=None)
        # An alert raised before the recorded action (the deploy itself gave it away) is 0 s late.
        latency = None if first is None else round(max(0.0, first - action_at), 3)
        rules.append(RuleResult(rule_id=rule_id, fired=bool(hits), latency_s=latency, alert_count=len(hits)))
    collateral = tuple(sorted(
        (Collateral(rule_id=a.rule_id, object=a.object, allowed=a.rule_id in expect.may_fire,
                    reason=expect.may_fire.get(a.rule_id, ""))
         for a in alerts if a.rule_id not in expect.fires),
        key=lambda c: (c.rule_id, c.object)))
    unlisted = sorted({c.rule_id for c in collateral if not c.allowed})
    # Said in the reason too, because the verdict (about the expected rules) can read "detected".
    unlisted_note = (f"; unlisted collateral, a false positive of {', '.join(unlisted)} "
                     "(not in the scenario's may_fire)") if unlisted else ""

    missing = [r.rule_id for r in rules if not r.fired]
    if missing:
        reason = f"no alert from {', '.join(missing)} within {expect.within_s:.0f}s of the action"
        if data_sources:
            reason += f"; the telemetry was there ({', '.join(sorted(data_sources))})"
        return Judgement(verdict=Verdict.MISSED, reason=reason + unlisted_note,
                         visibility=Visibility.LOGGED if data_sources else Visibility.NONE,
                         latency_s=None, rules=tuple(rules), collateral=collateral)
    latency = max(r.latency_s or 0.0 for r in rules)
    return Judgement(verdict=Verdict.DETECTED,
                     reason=f"{', '.join(expect.fires)} fired after {latency:.2f}s" + unlisted_note,
                     visibility=Visibility.ALERTED, latency_s=latency, rules=tuple(rules),
                     collateral=collateral)


def _benign(expect: Expectation, by_rule: dict[str, list[Alert]],
            data_sources: Collection[str]) -> Judgement:
    rules = tuple(RuleResult(rule_id=rule_id, fired=rule_id in by_rule, alert_count=len(by_rule.get(rule_id, [])))
                  for rule_id in expect.silent)
    if by_rule:
        return Judgement(verdict=Verdict.FALSE_POSITIVE, reason="alerted: " + ", ".join(sorted(by_rule)),
                         visibility=Visibility.ALERTED, latency_s=None, rules=rules, collateral=())
    return Judgement(verdict=Verdict.SILENT, reason=f"no alert in its {expect.window_s:.0f}s window",
                     visibility=Visibility.LOGGED if data_sources else Visibility.NONE,
                     latency_s=None, rules=rules, collateral=())
