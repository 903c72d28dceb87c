"""How well detection generalises: per scenario and per detector, over the variants a run drew.

A scenario's family is its canonical run plus its variant rows (``variant_of``). An adversary
variant counts as detected when it passed (its expected rules fired, nothing unlisted); a benign
variant when it stayed silent. Per detector: of the adversary variants that expect a rule, how many
saw it fire, and the dimension values of the ones that did not (the robustness gate,
``harness.robustness_gate``, counts the families' canonical runs there too).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.outcome import RunResult, Verdict

CONCLUDED = (Verdict.DETECTED, Verdict.MISSED, Verdict.SILENT, Verdict.FALSE_POSITIVE)


@dataclass(slots=True)
class FamilyRobustness:
    scenario_id: str
    kind: str
    canonical_passed: bool | None  # None: the canonical run was not in this run
    variants_run: int = 0  # concluded variant runs (errors and skips are not counted)
    variants_passed: int = 0
    failed: list[str] = field(default_factory=list)  # the failed variants' ids
    errors: list[str] = field(default_factory=list)  # variant runs that concluded nothing

    @property
    def ratio(self) -> float | None:
        return self.variants_passed / self.variants_run if self.variants_run else None


@dataclass(slots=True)
class DetectorRobustness:
    rule_id: str
    expected: int = 0  # adversary variant runs that expect this rule and concluded
    fired: int = 0
    # (dimension, value) -> [variants with that value where the rule fired, variants with that value]
    by_value: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    @property
    def missed_values(self) -> dict[str, dict[str, tuple[int, int]]]:
        """dimension -> {value: (fired, run)} for every value some variant with it was missed on, the
        worst first: a value at 0/n is what the detector does not see; one at 4/6 only shares
        variants with such a value."""
        out: dict[str, dict[str, tuple[int, int]]] = {}
        for (dimension, value), (fired, run) in sorted(self.by_value.items(), key=lambda kv: kv[1][0] / kv[1][1]):
            if fired < run:
                out.setdefault(dimension, {})[value] = (fired, run)
        return out


def families(run: RunResult) -> list[FamilyRobustness]:
    variants = [o for o in run.outcomes if o.variant_of]
    if not variants:
        return []
    canonical = {o.scenario_id: o for o in run.outcomes if not o.variant_of}
    found: dict[str, FamilyRobustness] = {}
    for outcome in variants:
        base = outcome.variant_of or ""
        family = found.get(base)
        if family is None:
            head = canonical.get(base)
            family = found[base] = FamilyRobustness(base, outcome.kind, None if head is None else head.passed)
        if outcome.verdict not in CONCLUDED:
            family.errors.append(outcome.scenario_id)
            continue
        family.variants_run += 1
        if outcome.passed:
            family.variants_passed += 1
        else:
            family.failed.append(outcome.scenario_id)
    return [found[k] for k in sorted(found)]


def detectors(run: RunResult, with_canonical: bool = False) -> list[DetectorRobustness]:
    """Per expected rule, over the concluded adversary variant rows; ``with_canonical`` also counts the
    canonical row of each scenario that has variants here (its whole drawn space, canonical included).
    The default leaves canonical rows out, as the scorecard's robustness section reads."""
    varied = {o.variant_of for o in run.outcomes if o.variant_of} if with_canonical else set()
    found: dict[str, DetectorRobustness] = {}
    for outcome in run.outcomes:
        in_family = bool(outcome.variant_of) or outcome.scenario_id in varied
        if not in_family or outcome.kind != "adversary" or outcome.verdict not in CONCLUDED:
            continue
        for rule in outcome.rules:
            entry = found.setdefault(rule.rule_id, DetectorRobustness(rule.rule_id))
            entry.expected += 1
            entry.fired += rule.fired
            for dimension, value in outcome.variant.items():
                counts = entry.by_value[(dimension, str(value))]
                counts[0] += rule.fired
                counts[1] += 1
    return [found[k] for k in sorted(found)]


def missed_text(missed_values: Mapping[str, Mapping[str, Sequence[int]]]) -> str:
    """``target: volume 0/3, file 2/3; how: python 1/2``, or ``none``; takes ``missed_values`` as
    computed or as read back from JSON (lists for tuples)."""
    return "; ".join(f"{d}: " + ", ".join(f"{v} {f}/{n}" for v, (f, n) in values.items())
                     for d, values in missed_values.items()) or "none"


def family_lines(rows: list[FamilyRobustness]) -> list[str]:
    lines = ["| scenario | kind | canonical | variants passed | failed variants |", "|---|---|---|---|---|"]
    for row in rows:
        head = "-" if row.canonical_passed is None else ("pass" if row.canonical_passed else "FAIL")
        failed = ", ".join(f"`{v.split('@', 1)[1]}`" for v in row.failed) or "none"
        if row.errors:
            failed += f" ({len(row.errors)} error(s))"
        lines.append(f"| `{row.scenario_id}` | {row.kind} | {head} | {row.variants_passed}/{row.variants_run} | "
                     f"{failed} |")
    return lines


def detector_lines(rules: list[DetectorRobustness], runs: str = "adversary variants") -> list[str]:
    """The per-detector table; ``runs`` names what the fired/expected column counts."""
    lines = [f"| detector | fired on {runs} | values it missed on (fired/run with that value; "
             "0/n is what it does not see) |", "|---|---|---|"]
    for rule in rules:
        lines.append(f"| `{rule.rule_id}` | {rule.fired}/{rule.expected} | {missed_text(rule.missed_values)} |")
    return lines


def markdown_lines(run: RunResult) -> list[str]:
    rows = families(run)
    if not rows:
        return []
    variants = run.environment.get("variants") or {}
    lines = [f"Variants drawn with seed {variants.get('seed', '?')} ({variants.get('requested', '?')} per "
             "scenario). A variant passes as its scenario would: an adversary detected with nothing unlisted, a "
             "benign twin silent. Errors and skips are not counted.", "", *family_lines(rows)]
    rules = detectors(run)
    if rules:
        lines += ["", *detector_lines(rules)]
    return lines
