"""The robustness gate: does detection hold over the variant space a run drew, and is every miss known?

    python -m harness.robustness_gate --scorecard PATH [--min 0.9] [--rules DIR ...]
                                      [--summary PATH.md] [--write PATH.json]

Exit status: 0 passed, 1 failed, 2 bad input (the scorecard missing, unreadable, not a scorecard, or
of a run that drew no variants; the message names the file and the field).

A *family* is a scenario with at least one variant row in the run; its rows are its canonical row
(when the run has it) and its variant rows. The gate passes when all of these hold:

* adversary robustness, the family adversary rows that passed over those that concluded (detected
  or missed, with or without unlisted collateral; errors and skips are not in the ratio), is at
  least ``--min``;
* every miss is *named*: one of the expected rules that did not fire has a blind spot that names
  the scenario id and, for a variant, one ``dimension=value`` of the variant's label. A miss is then
  a gap the rule already admits in writing, not a surprise;
* no false positive: every benign family row stayed silent, and no adversary row raised unlisted
  collateral (a blind spot never excuses a false positive);
* no family row is an error or skipped, and the run completed: the space was covered.

``nox -s variants`` runs ``--variants all --seed 1 --varied-only`` and then this gate; its
``--write`` file, ``reports/robustness.json``, is committed, and README's robustness block is
rendered from it.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from detectors.sigma import SigmaRuleError
from harness.blind_spots import blindspots_of, label_pairs, naming_blind_spot
from harness.outcome import Outcome, RunResult, Verdict
from harness.scorecard.figures import iso_utc
from harness.scorecard.json_report import ScorecardFormatError, from_json, load_json, write_json_dict
from harness.scorecard.robustness import (
    CONCLUDED,
    DetectorRobustness,
    FamilyRobustness,
    detector_lines,
    detectors,
    families,
    family_lines,
)

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_MIN = 0.9
SCHEMA_VERSION = "1.0"


class RobustnessInputError(ValueError):
    """The scorecard cannot be judged; the message names the field (and, from ``main``, the file)."""


@dataclass(frozen=True, slots=True)
class Miss:
    """A failed adversary row whose expected rules did not all fire."""

    row: str  # the row's scenario id, ``<id>@<label>`` for a variant
    rules: tuple[str, ...]  # the expected rules that did not fire
    blind_spot: str | None = None  # the blind spot that names it; None: nothing does
    blind_spot_of: str | None = None  # the rule whose blind spot that is

    @property
    def named(self) -> bool:
        return self.blind_spot is not None


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that fails the gate whatever the ratio: it is not a known gap, or nothing was measured."""

    row: str  # a row's scenario id, or "(run)"
    kind: str  # "unnamed miss", "false positive", "failed", "error", "skipped", "incomplete"
    reason: str  # one sentence

    def line(self) -> str:
        return f"`{self.row}` ({self.kind}): {self.reason}"


@dataclass(slots=True)
class Robustness:
    run_id: str
    backend: str
    started_at: float
    requested: str | int  # the run's --variants: a count per scenario, or "all"
    seed: int | None
    threshold: float
    adversary_runs: int = 0  # concluded adversary family rows, canonical and variants
    adversary_passed: int = 0
    benign_runs: int = 0  # concluded benign family rows (twins and their variants)
    benign_silent: int = 0
    families: list[FamilyRobustness] = field(default_factory=list)
    detectors: list[DetectorRobustness] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def robustness(self) -> float | None:
        return self.adversary_passed / self.adversary_runs if self.adversary_runs else None

    @property
    def meets_threshold(self) -> bool:
        # Exact fractions: 63/70 is 90%, and 63 >= 0.9 * 70 (63.00000000000001) would say it is not.
        return bool(self.adversary_runs) and \
            Fraction(self.adversary_passed, self.adversary_runs) >= Fraction(str(self.threshold))

    @property
    def passed(self) -> bool:
        return self.meets_threshold and not self.problems

    def to_markdown(self) -> str:
        state = "PASS" if self.passed else "FAIL"
        drawn = "every variant" if self.requested == "all" else f"{self.requested} variant(s) per scenario"
        named = sum(m.named for m in self.misses)
        ratio = share(self.adversary_passed, self.adversary_runs) if self.adversary_runs else "none concluded"
        lines = [
            f"## Variant robustness: **{state}**",
            "",
            f"Run `{self.run_id}` ({iso_utc(self.started_at)[:10]}, {self.backend}), {drawn} with seed {self.seed}: "
            f"adversary robustness {ratio}, at least {threshold_text(self.threshold)} required: "
            f"{'met' if self.meets_threshold else 'NOT met'}; benign runs (twins and their variants) silent "
            f"{self.benign_silent}/{self.benign_runs}; {len(self.misses)} miss(es), {named} named by a blind "
            f"spot; {len(self.problems)} problem(s).",
        ]
        if self.problems:
            lines += ["", "### Problems (fail)", "", *(f"- {p.line()}" for p in self.problems)]
        known = [m for m in self.misses if m.named]
        if known:
            lines += ["", "### Misses named by a blind spot", ""]
            lines += [f"- `{m.row}`: {', '.join(m.rules)} did not fire; a blind spot of `{m.blind_spot_of}`: "
                      f"\"{textwrap.shorten(m.blind_spot or '', 200)}\"" for m in known]
        lines += ["", "### Per scenario", "", *family_lines(self.families)]
        if self.detectors:
            runs = "adversary runs (canonical + variants)"
            lines += ["", "### Per detector", "", *detector_lines(self.detectors, runs)]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "backend": self.backend,
            "started_at": iso_utc(self.started_at),
            "seed": self.seed,
            "requested": self.requested,
            "threshold": self.threshold,
            "adversary": {"runs": self.adversary_runs, "passed": self.adversary_passed,
                          "robustness": self.robustness},
            "benign": {"runs": self.benign_runs, "silent": self.benign_silent},
            "families": [asdict(f) for f in self.families],
            "detectors": [{"rule_id": d.rule_id, "expected": d.expected, "fired": d.fired,
                           "missed_values": {dim: {value: list(counts) for value, counts in values.items()}
                                             for dim, values in d.missed_values.items()}}
                          for d in self.detectors],
            "misses": [{"row": m.row, "rules": list(m.rules), "named": m.named, "blind_spot": m.blind_spot,
                        "blind_spot_of": m.blind_spot_of} for m in self.misses],
            "problems": [asdict(p) for p in self.problems],
            "passed": self.passed,
        }


def share(part: int, whole: int) -> str:
    """``141/150 (94.0%)``, the percentage rounded down: a figure never reads better than measured."""
    tenths = 1000 * part // whole if whole else 0
    return f"{part}/{whole} ({tenths // 10}.{tenths % 10}%)"


def threshold_text(threshold: float) -> str:
    return f"{100 * threshold:g}%"


def _fired(outcome: Outcome) -> list[str]:
    names = {r.rule_id for r in outcome.rules if r.fired}
    names |= {str(a["rule_id"]) for a in outcome.alerts if a.get("rule_id")}
    return sorted(names)


def judge(run: RunResult, blindspots: Mapping[str, Sequence[str]], threshold: float = DEFAULT_MIN) -> Robustness:
    """Judge the family rows of a run that drew variants. ``blindspots``: rule id -> its blind spots.

    Raises RobustnessInputError when the run drew no variants, or none of its rows is one.
    """
    drawn = run.environment.get("variants") or {}
    requested = drawn.get("requested") if isinstance(drawn, dict) else None
    if not requested:
        raise RobustnessInputError("field environment.variants.requested: this run drew no variants; run it with "
                                   "`stowaway run --variants all --varied-only` (or `nox -s variants`)")
    found = families(run)
    if not found:
        raise RobustnessInputError("field outcomes: no row is a variant (variant_of): none of the scenarios run "
                                   "declares dimensions; select some (`stowaway run --varied-only`)")
    seed = drawn.get("seed")
    result = Robustness(run.run_id, run.backend, run.started_at, requested, seed if isinstance(seed, int) else None,
                        threshold, families=found, detectors=detectors(run, with_canonical=True))
    if run.status != "complete":
        result.problems.append(Problem("(run)", "incomplete", f"the run is {run.status}: the rows it did not "
                                                              "reach were never judged"))
    varied = {f.scenario_id for f in found}
    for outcome in run.outcomes:
        if outcome.variant_of or outcome.scenario_id in varied:
            _judge_row(result, outcome, blindspots)
    return result


def _judge_row(result: Robustness, outcome: Outcome, blindspots: Mapping[str, Sequence[str]]) -> None:
    row = outcome.scenario_id
    if outcome.verdict is Verdict.SKIPPED:
        result.problems.append(Problem(row, "skipped", f"that part of the space was not covered: {outcome.reason}"))
        return
    if outcome.verdict not in CONCLUDED:
        result.problems.append(Problem(row, "error", f"that part of the space was not covered: {outcome.reason}"))
        return
    if outcome.kind != "adversary":
        result.benign_runs += 1
        if outcome.passed:
            result.benign_silent += 1
        else:
            rules = ", ".join(_fired(outcome)) or "an alert"
            result.problems.append(Problem(row, "false positive", f"{rules} fired on a benign run: {outcome.reason}"))
        return
    result.adversary_runs += 1
    if outcome.passed:
        result.adversary_passed += 1
        return
    unfired = tuple(r.rule_id for r in outcome.rules if not r.fired)
    if unfired:
        named = naming_blind_spot(outcome, unfired, blindspots)
        if named is not None:
            result.misses.append(Miss(row, unfired, blind_spot=named[1], blind_spot_of=named[0]))
        else:
            result.misses.append(Miss(row, unfired))
            what = f"`{outcome.variant_of or row}`"
            if outcome.variant_of:
                what += f" with {' or '.join(label_pairs(outcome))}"
            them = "it" if len(unfired) == 1 else "them"
            result.problems.append(Problem(row, "unnamed miss", f"{', '.join(unfired)} did not fire, and no blind "
                                                                f"spot of {them} names {what}: {outcome.reason}"))
    unlisted = outcome.unlisted_collateral
    if unlisted:
        rules = ", ".join(sorted({c.rule_id for c in unlisted}))
        objects = ", ".join(sorted({c.object for c in unlisted}))
        result.problems.append(Problem(row, "false positive", f"{rules} alerted on its objects ({objects}), neither "
                                                              "expected nor in its may_fire"))
    if not unfired and not unlisted:
        result.problems.append(Problem(row, "failed", outcome.reason))


def write(result: Robustness, path: str | Path) -> Path:
    """The figures file (``reports/robustness.json``), written atomically."""
    return write_json_dict(result.to_dict(), path)


def load_run(path: str | Path) -> RunResult:
    """Raises RobustnessInputError naming the file and the field."""
    try:
        return from_json(load_json(path))
    except FileNotFoundError:
        raise RobustnessInputError(f"scorecard {path}: file not found (`nox -s variants` writes one)") from None
    except OSError as exc:
        raise RobustnessInputError(f"scorecard {path}: cannot read: {exc.strerror or exc}") from None
    except ScorecardFormatError as exc:
        raise RobustnessInputError(f"scorecard {path}: field {exc.field}: {exc.problem}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.robustness_gate",
                                     description="Judge a run that drew variants: robustness, and every miss named.")
    parser.add_argument("--scorecard", required=True, type=Path, help="scorecard.json of a run with --variants")
    parser.add_argument("--min", type=float, default=DEFAULT_MIN, metavar="SHARE",
                        help="the adversary robustness required, 0 to 1 (default 0.9)")
    parser.add_argument("--rules", action="append", type=Path, default=[], metavar="DIR",
                        help="Sigma rule directory whose blind spots name misses, instead of the shipped one "
                             "(repeatable)")
    parser.add_argument("--summary", type=Path, metavar="PATH",
                        help="also append the Markdown report here (CI job summary)")
    parser.add_argument("--write", type=Path, metavar="PATH", help="write the figures as JSON here")
    args = parser.parse_args(argv)

    try:
        if not 0 < args.min <= 1:
            raise RobustnessInputError(f"--min: a share above 0 and at most 1 (0.9 is 90%), not {args.min:g}")
        run = load_run(args.scorecard)
        try:
            result = judge(run, blindspots_of(args.rules), args.min)
        except RobustnessInputError as exc:
            raise RobustnessInputError(f"scorecard {args.scorecard}: {exc}") from None
    except (RobustnessInputError, SigmaRuleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    report = result.to_markdown()
    print(report)
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        with open(args.summary, "a", encoding="utf-8") as handle:
            handle.write(report + "\n")
    if args.write:
        print(f"figures: {write(result, args.write)}")
    return EXIT_PASS if result.passed else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
