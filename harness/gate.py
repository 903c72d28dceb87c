"""The regression gate: compare a run's scorecard with a committed baseline scorecard.

    python -m harness.gate --baseline PATH --current PATH [--update]

Exit status: 0 the gate passed (or the baseline was updated), 1 it failed, 2 bad input (a file
missing, unreadable, or not a scorecard; the message names the file and the field).

The gate judges change, not absolute quality: a scenario missed in both runs does not fail it
(the run's own pass/fail reports that). Two things fail it whatever the baseline says, because
they hide evidence rather than change it: a skipped scenario, and a false positive in the soak.
Scenarios are matched by (scenario_id, backend); a variant row's id names its variant
(``docker.fim.cron-entry@path=spool``), so a variant detected in the baseline and missed now is a
lost detection like any other. A run that drew different variants (another ``--variants`` count or
``--seed``, or none) is not blamed for the baseline's variant rows it never ran.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.outcome import Outcome, RunResult, SoakResult, Verdict
from harness.scorecard.figures import iso_utc
from harness.scorecard.json_report import ScorecardFormatError, from_json, load_json, write_json_dict

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2

Key = tuple[str, str]  # (scenario_id, backend)


class GateInputError(ValueError):
    """The two scorecards cannot be compared (or a baseline cannot be made from this run)."""


@dataclass(frozen=True, slots=True)
class GateFinding:
    scenario_id: str
    backend: str
    detail: str  # one sentence a reviewer reads in a PR comment

    def line(self) -> str:
        return f"`{self.scenario_id}` ({self.backend}): {self.detail}"


@dataclass(slots=True)
class GateResult:
    baseline_run_id: str
    current_run_id: str
    lost: list[GateFinding] = field(default_factory=list)  # fails the gate
    new_false_positives: list[GateFinding] = field(default_factory=list)  # fails the gate
    lost_silent: list[GateFinding] = field(default_factory=list)  # fails: a twin silent before, now not judged
    new_collateral: list[GateFinding] = field(default_factory=list)  # fails: a new unlisted collateral rule
    skipped: list[GateFinding] = field(default_factory=list)  # fails: a skip proves nothing
    soak_false_positives: list[GateFinding] = field(default_factory=list)  # fails: an alert on the benign fleet
    slower: list[GateFinding] = field(default_factory=list)  # fails the gate
    improved: list[GateFinding] = field(default_factory=list)  # reported only
    new_scenarios: list[GateFinding] = field(default_factory=list)  # reported only
    notes: list[str] = field(default_factory=list)  # context that is neither a failure nor a gain

    @property
    def failures(self) -> list[GateFinding]:
        return [*self.lost, *self.new_false_positives, *self.lost_silent, *self.new_collateral, *self.skipped,
                *self.soak_false_positives, *self.slower]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_markdown(self) -> str:
        state = "PASS" if self.passed else "FAIL"
        lines = [
            f"## Regression gate: **{state}**",
            "",
            f"Current run `{self.current_run_id}` against baseline run `{self.baseline_run_id}`: "
            f"{len(self.lost)} lost detection(s), {len(self.new_false_positives)} new false positive(s), "
            f"{len(self.lost_silent)} twin(s) no longer silent, {len(self.new_collateral)} new unlisted "
            f"collateral, {len(self.skipped)} skipped, {len(self.soak_false_positives)} soak false positive(s), "
            f"{len(self.slower)} slower detection(s); {len(self.improved)} improvement(s), "
            f"{len(self.new_scenarios)} new scenario(s).",
        ]
        sections = (
            ("Lost detections (fail)", self.lost),
            ("New false positives (fail)", self.new_false_positives),
            ("Twins no longer silent (fail)", self.lost_silent),
            ("New unlisted collateral (fail)", self.new_collateral),
            ("Skipped (fail)", self.skipped),
            ("Soak false positives (fail)", self.soak_false_positives),
            ("Slower detections (fail)", self.slower),
            ("Improvements", self.improved),
            ("New scenarios", self.new_scenarios),
        )
        for title, findings in sections:
            if findings:
                lines += ["", f"### {title}", "", *(f"- {f.line()}" for f in findings)]
        if self.notes:
            lines += ["", "### Notes", "", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines) + "\n"


def _index(run: RunResult) -> dict[Key, Outcome]:
    return {(o.scenario_id, o.backend): o for o in run.outcomes}


def _fired_rules(outcome: Outcome) -> set[str]:
    fired = {r.rule_id for r in outcome.rules if r.fired}
    return fired | {str(a["rule_id"]) for a in outcome.alerts if a.get("rule_id")}


def _latency(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def compare(
    current: dict[str, Any],
    baseline: dict[str, Any],
    latency_tolerance_s: float = 2.0,
    latency_ratio: float = 2.0,
) -> GateResult:
    """Compare two scorecard dicts (the JSON format of harness.scorecard).

    The gate fails on:

    * a lost detection: a scenario detected in the baseline that is now missed, false positive,
      error, skipped, or absent from the current run;
    * a new false positive: a benign scenario now false positive that was not in the baseline
      (including a scenario new to this run), or one on which a rule fires that did not before;
    * a twin no longer silent: a benign scenario silent in the baseline that is now an error,
      skipped, or absent (now a false positive is a new false positive, above);
    * new unlisted collateral: a rule raising a false positive on an adversary's objects (outside
      its fires and may_fire) that did not on that scenario in the baseline;
    * a skipped scenario, whatever the baseline says (one not already counted above);
    * a false positive in the soak: every alert on the benign fleet, whatever the baseline says;
    * a slower detection: a scenario detected in both whose latency grew by more than BOTH
      ``latency_tolerance_s`` seconds AND the factor ``latency_ratio`` (current > baseline * ratio).
      Both must hold, so jitter on a fast rule (0.2 s -> 0.9 s) and a few percent on a slow
      analytic (30 s -> 34 s) pass, while 1 s -> 8 s fails.

    New scenarios and improvements (a miss now detected, a false positive now silent, a latency
    better by both thresholds) are reported, never failed.

    Raises ScorecardFormatError when either dict is not a scorecard, GateInputError when the two
    runs used different backends (every scenario would look lost; compare like with like).
    """
    now = from_json(current)
    base = from_json(baseline)
    if now.backend != base.backend:
        raise GateInputError(
            f"backend: current run used {now.backend!r} but the baseline {base.backend!r}; "
            "keep one baseline per backend"
        )
    result = GateResult(baseline_run_id=base.run_id, current_run_id=now.run_id)
    if now.attack_version != base.attack_version:
        result.notes.append(
            f"ATT&CK version changed from v{base.attack_version} to v{now.attack_version}; "
            "scenarios are compared by id, technique coverage is not comparable"
        )
    if now.status != "complete":
        result.notes.append(f"the current run is {now.status}; scenarios it did not reach count as lost")

    current_by_key, baseline_by_key = _index(now), _index(base)
    same_draw = _draw(now) == _draw(base)
    undrawn = 0
    for key, before in baseline_by_key.items():
        after = current_by_key.get(key)
        if after is None and before.variant_of and not same_draw:
            undrawn += 1  # another seed or count draws other variants: absent is not lost
            continue
        finding = _compare_one(before, after, latency_tolerance_s, latency_ratio)
        if finding is None:
            continue
        bucket, detail = finding
        _append(result, bucket, GateFinding(key[0], key[1], detail))

    for key, after in current_by_key.items():
        collateral = _new_collateral(baseline_by_key.get(key), after)
        if collateral:
            result.new_collateral.append(GateFinding(key[0], key[1], collateral))
        if key in baseline_by_key:
            continue
        if after.verdict is Verdict.SKIPPED:
            result.skipped.append(GateFinding(key[0], key[1], f"new scenario, skipped: {after.reason}"))
        elif after.verdict is Verdict.FALSE_POSITIVE:
            rules = ", ".join(sorted(_fired_rules(after))) or "an alert"
            result.new_false_positives.append(
                GateFinding(key[0], key[1], f"new benign scenario raised {rules}: {after.reason}")
            )
        else:
            result.new_scenarios.append(
                GateFinding(key[0], key[1], f"{after.kind}, {after.verdict.value}: {after.reason}")
            )
    if undrawn:
        result.notes.append(
            f"{undrawn} variant row(s) of the baseline were not compared: the baseline drew variants "
            f"{_draw_text(_draw(base))}, this run {_draw_text(_draw(now))} (run with the same --variants and --seed "
            "to gate them)")
    _compare_soak(result, now.soak, base.soak, now.backend)
    return result


def _draw(run: RunResult) -> tuple[str, int] | None:
    """(variants requested per scenario, seed) of a run that drew variants, None for one that did not."""
    drawn = run.environment.get("variants") or {}
    requested = drawn.get("requested", 0)
    if not requested:
        return None
    return str(requested), int(drawn.get("seed", 0))


def _draw_text(draw: tuple[str, int] | None) -> str:
    return "none" if draw is None else f"{draw[0]} per scenario with seed {draw[1]}"


def _new_collateral(before: Outcome | None, after: Outcome) -> str | None:
    """Rules raising unlisted collateral on this scenario now that did not in the baseline."""
    known = set() if before is None else {c.rule_id for c in before.unlisted_collateral}
    new = sorted({c.rule_id for c in after.unlisted_collateral} - known)
    if not new:
        return None
    objects = sorted({c.object for c in after.unlisted_collateral if c.rule_id in new})
    return (f"{', '.join(new)} now alerts on its objects ({', '.join(objects)}), neither expected nor allowed "
            "by its may_fire: a false positive of that rule")


def _compare_soak(result: GateResult, now: SoakResult | None, base: SoakResult | None, backend: str) -> None:
    if now is None:
        if base is not None:
            result.notes.append("the baseline ran a soak; this run did not")
        return
    for alert in now.alerts:
        result.soak_false_positives.append(GateFinding(
            "soak", backend, f"{alert.get('rule_id')} alerted on {alert.get('object')} of the benign fleet"))
    if now.status != "complete":
        result.notes.append(f"the soak is {now.status}: {now.reason}")


def _compare_one(
    before: Outcome, after: Outcome | None, tolerance: float, ratio: float
) -> tuple[str, str] | None:
    """Which GateResult list one baseline scenario belongs in, and why; None when nothing changed."""
    if after is None:
        if before.verdict is Verdict.DETECTED:
            return "lost", f"detected in the baseline ({_latency(before.latency_s)}), now absent from the run"
        if before.verdict is Verdict.SILENT:
            return "lost_silent", "silent in the baseline, now absent from the run"
        return "notes_absent", f"{before.verdict.value} in the baseline, now absent from the run"

    if before.verdict is Verdict.DETECTED and after.verdict is not Verdict.DETECTED:
        was = f"detected in the baseline ({_latency(before.latency_s)})"
        return "lost", f"{was}, now {after.verdict.value}: {after.reason}"

    if before.verdict is Verdict.SILENT and after.verdict in (Verdict.ERROR, Verdict.SKIPPED):
        return "lost_silent", f"silent in the baseline, now {after.verdict.value}: {after.reason}"

    if after.verdict is Verdict.SKIPPED:
        return "skipped", f"{before.verdict.value} in the baseline, now skipped: {after.reason}"

    if after.verdict is Verdict.FALSE_POSITIVE:
        new_rules = _fired_rules(after) - (
            _fired_rules(before) if before.verdict is Verdict.FALSE_POSITIVE else set()
        )
        if before.verdict is not Verdict.FALSE_POSITIVE or new_rules:
            rules = ", ".join(sorted(new_rules)) or "an alert"
            return (
                "new_false_positives",
                f"{rules} now fires (baseline {before.verdict.value}): {after.reason}",
            )
        return None

    if before.verdict is Verdict.FALSE_POSITIVE and after.verdict is Verdict.SILENT:
        return "improved", "false positive in the baseline, now silent"

    if before.verdict is not Verdict.DETECTED and after.verdict is Verdict.DETECTED:
        return (
            "improved",
            f"{before.verdict.value} in the baseline, now detected in {_latency(after.latency_s)}",
        )

    if before.verdict is Verdict.DETECTED and before.latency_s is not None and after.latency_s is not None:
        old, new = before.latency_s, after.latency_s
        if new - old > tolerance and new > old * ratio:
            return "slower", (
                f"latency {_latency(old)} -> {_latency(new)} (over both +{tolerance:g} s and x{ratio:g})"
            )
        if old - new > tolerance and old > new * ratio:
            return "improved", f"latency {_latency(old)} -> {_latency(new)}"
    return None


# _compare_one's "notes_absent" bucket is not a GateResult list: route it to notes as text.
def _append(result: GateResult, bucket: str, finding: GateFinding) -> None:
    if bucket == "notes_absent":
        result.notes.append(finding.line())
    else:
        getattr(result, bucket).append(finding)


def update_baseline(current_path: str | Path, baseline_path: str | Path) -> Path:
    """Accept the current scorecard as the new baseline, deliberately (never as a side effect).

    The copy carries a ``baseline`` header: when it was accepted, from which run and file, and
    which run it replaced, so `git log -p` on the baseline explains itself.

    Raises OSError or ScorecardFormatError for an unreadable current scorecard, and GateInputError
    for an aborted run (its missing scenarios would silently drop out of the gate).
    """
    data = load_json(current_path)
    run = from_json(data)
    if run.status != "complete":
        raise GateInputError(
            f"status: run {run.run_id} is {run.status}; an incomplete run cannot be a baseline"
        )
    previous_run_id = None
    target = Path(baseline_path)
    if target.exists():
        try:
            previous_run_id = load_json(target).get("run_id")
        except (OSError, ScorecardFormatError):
            previous_run_id = None  # replacing a broken baseline is one reason to update
    accepted = dict(data)
    accepted["baseline"] = {
        "updated_at": iso_utc(time.time()),
        "from_run_id": run.run_id,
        "source": str(current_path),
        "replaces_run_id": previous_run_id,
    }
    return write_json_dict(accepted, target)


def _load(role: str, path: str) -> dict[str, Any]:
    """Read and validate one side; errors say which file and which field."""
    try:
        data = load_json(path)
        from_json(data)
    except FileNotFoundError:
        hint = " (create it with --update)" if role == "baseline" else ""
        raise GateInputError(f"{role} scorecard {path}: file not found{hint}") from None
    except OSError as exc:
        raise GateInputError(f"{role} scorecard {path}: cannot read: {exc.strerror or exc}") from None
    except ScorecardFormatError as exc:
        raise GateInputError(f"{role} scorecard {path}: field {exc.field}: {exc.problem}") from None
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.gate", description="Compare a run's scorecard with a baseline."
    )
    parser.add_argument("--baseline", required=True, help="committed baseline scorecard.json")
    parser.add_argument("--current", required=True, help="scorecard.json of the run under test")
    parser.add_argument("--update", action="store_true", help="accept the current run as the new baseline")
    parser.add_argument("--latency-tolerance", type=float, default=2.0, metavar="SECONDS")
    parser.add_argument("--latency-ratio", type=float, default=2.0, metavar="FACTOR")
    parser.add_argument(
        "--summary", metavar="PATH", help="also append the Markdown report here (CI job summary)"
    )
    args = parser.parse_args(argv)

    try:
        current = _load("current", args.current)
        if args.update:
            if Path(args.baseline).exists():
                try:
                    print(compare(current, _load("baseline", args.baseline)).to_markdown())
                except (GateInputError, ScorecardFormatError) as exc:
                    print(f"note: previous baseline not comparable ({exc}); replacing it", file=sys.stderr)
            written = update_baseline(args.current, args.baseline)
            print(f"baseline updated: {written} now holds run {current['run_id']}")
            return EXIT_PASS
        result = compare(
            current,
            _load("baseline", args.baseline),
            latency_tolerance_s=args.latency_tolerance,
            latency_ratio=args.latency_ratio,
        )
    except GateInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ScorecardFormatError as exc:  # compare() re-parses; _load already caught the common cases
        print(f"error: field {exc.field}: {exc.problem}", file=sys.stderr)
        return EXIT_BAD_INPUT

    report = result.to_markdown()
    print(report)
    if args.summary:
        with open(args.summary, "a", encoding="utf-8") as handle:
            handle.write(report + "\n")
    return EXIT_PASS if result.passed else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
