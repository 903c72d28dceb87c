"""Markdown scorecard, sized for a CI job summary or a pull-request comment.

Markers are plain words in brackets rather than emoji: they survive every renderer, terminal log
and screen reader, and `grep FAIL` finds them.
"""

from __future__ import annotations

from harness.outcome import Outcome, RunResult, Verdict
from harness.scorecard.json_report import (
    concluded,
    coverage_score,
    false_positive_rules,
    summarize,
    techniques_of,
)

MARKERS: dict[Verdict, str] = {
    Verdict.DETECTED: "[ok] detected",
    Verdict.SILENT: "[ok] silent",
    Verdict.MISSED: "**[FAIL] missed**",
    Verdict.FALSE_POSITIVE: "**[FAIL] false positive**",
    Verdict.ERROR: "**[ERROR] error**",
    Verdict.SKIPPED: "[skip] skipped",
}


def cell(text: str) -> str:
    """Make arbitrary text safe inside a table cell: a pipe or newline would break the row."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ").strip()


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def headline(run: RunResult) -> str:
    summary = summarize(run)
    verdicts = summary["verdicts"]
    rate = summary["detection_rate"]
    state = "PASS" if run.passed else "FAIL"
    if run.status != "complete":
        state += f" (run {run.status})"
    rate_text = "n/a" if rate is None else f"{rate:.0%}"
    return (
        f"**{state}**: {verdicts['detected']} detected, {verdicts['missed']} missed, "
        f"{verdicts['silent']} silent, {verdicts['false_positive']} false positive, "
        f"{verdicts['error']} error, {verdicts['skipped']} skipped; detection rate {rate_text} "
        f"(ATT&CK v{run.attack_version}, backend {run.backend}, run `{run.run_id}`)"
    )


def _scenario_rows(outcomes: list[Outcome]) -> list[str]:
    rows = [
        "| scenario | kind | ATT&CK | verdict | latency | reason |",
        "|---|---|---|---|---:|---|",
    ]
    # Failures first: the reader of a PR comment wants them without scrolling.
    for outcome in sorted(outcomes, key=lambda o: (o.verdict.passed, o.kind, o.scenario_id)):
        rows.append(
            f"| `{cell(outcome.scenario_id)}` | {outcome.kind} | {cell(', '.join(outcome.techniques))} "
            f"| {MARKERS[outcome.verdict]} | {seconds(outcome.latency_s)} | {cell(outcome.reason)} |"
        )
    return rows


def _technique_rows(outcomes: list[Outcome]) -> list[str]:
    rows = [
        "| technique | coverage | detected / concluded | not concluded | benign silent | false positives "
        "| scenarios |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for technique, items in techniques_of(outcomes).items():
        score = coverage_score(items)
        adversary = [o for o in items if o.kind == "adversary"]
        benign = [o for o in items if o.kind == "benign"]
        judged = [o for o in adversary if concluded(o)]
        detected = sum(o.verdict is Verdict.DETECTED for o in judged)
        silent = sum(o.verdict is Verdict.SILENT for o in benign)
        fps = sum(o.verdict is Verdict.FALSE_POSITIVE for o in benign)
        rows.append(
            f"| {technique} | {'n/a' if score is None else f'{score}%'} | {detected}/{len(judged)} "
            f"| {len(adversary) - len(judged)} "
            f"| {silent}/{len(benign)} | {fps} | {cell(', '.join(o.scenario_id for o in items))} |"
        )
    return rows


def to_markdown(run: RunResult) -> str:
    summary = summarize(run)
    lines = [
        "## Stowaway purple-team scorecard",
        "",
        headline(run),
        "",
        f"Technique ids refer to **MITRE ATT&CK v{run.attack_version}** (Enterprise). "
        f"Detection latency: median {seconds(summary['latency_median_s'])}, "
        f"p95 {seconds(summary['latency_p95_s'])}.",
        "",
        "### Scenarios",
        "",
        *_scenario_rows(run.outcomes),
        "",
        "### Coverage by technique",
        "",
        "Coverage counts adversary scenarios that concluded (detected or missed); "
        "skips and errors are left out.",
        "",
        *_technique_rows(run.outcomes),
        "",
        "### False positives",
        "",
    ]
    by_rule = false_positive_rules(run.outcomes)
    if not by_rule:
        lines.append("None: every benign twin stayed silent.")
    for rule_id, scenario_ids in by_rule.items():
        lines.append(f"- `{cell(rule_id)}` fired on {', '.join(f'`{cell(s)}`' for s in scenario_ids)}")
    return "\n".join(lines) + "\n"
