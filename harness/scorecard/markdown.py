"""Markdown scorecard, sized for a CI job summary or a pull-request comment.

Markers are plain words in brackets rather than emoji: they survive every renderer, terminal log
and screen reader, and `grep FAIL` finds them.
"""

from __future__ import annotations

from typing import Any

from harness.outcome import Outcome, RunResult, SoakResult, Verdict
from harness.scorecard.external import markdown_lines as external_lines
from harness.scorecard.figures import (
    RulePrecision,
    attention_rank,
    concluded,
    coverage_score,
    false_positive_rules,
    iso_utc,
    rule_precision,
    summarize,
    techniques_of,
)
from harness.scorecard.response import markdown_lines as response_lines
from harness.scorecard.robustness import markdown_lines as robustness_lines
from harness.scorecard.triage import triage_lines

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


def marker(outcome: Outcome) -> str:
    if outcome.verdict.passed and outcome.unlisted_collateral:
        # The expected rules did their job; another rule raised a false positive on the same objects.
        return f"**[FAIL] {outcome.verdict.value}, unlisted collateral**"
    return MARKERS[outcome.verdict]


def precision_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def headline(run: RunResult) -> str:
    summary = summarize(run)
    verdicts = summary["verdicts"]
    rate = summary["detection_rate"]
    state = summary["state"].upper()
    if run.status != "complete":
        state += f" (run {run.status})"
    rate_text = "n/a" if rate is None else f"{rate:.0%}"
    extra = ""
    if summary["unlisted_collateral"]:
        extra += f", {summary['unlisted_collateral']} unlisted collateral"
    if run.soak is not None:
        extra += f", soak {summary['soak_false_positives']} false positive(s)"
    return (
        f"**{state}**: {verdicts['detected']} detected, {verdicts['missed']} missed, "
        f"{verdicts['silent']} silent, {verdicts['false_positive']} false positive, "
        f"{verdicts['error']} error, {verdicts['skipped']} skipped{extra}; detection rate {rate_text} "
        f"(ATT&CK v{run.attack_version}, backend {run.backend}, run `{run.run_id}`){_variants(summary)}"
    )


def _variants(summary: dict[str, Any]) -> str:
    """The variant rows' own figures: the headline's counts are the canonical runs'."""
    variants = summary.get("variants")
    if not variants:
        return ""
    v, rate = variants["verdicts"], variants["detection_rate"]
    return (f"; variants: {v['detected']} detected, {v['missed']} missed, {v['silent']} silent, "
            f"{v['false_positive']} false positive, {v['error']} error, detection rate "
            f"{'n/a' if rate is None else f'{rate:.0%}'}")


def _scenario_rows(outcomes: list[Outcome]) -> list[str]:
    rows = [
        "| scenario | kind | ATT&CK | verdict | latency | reason |",
        "|---|---|---|---|---:|---|",
    ]
    # Failures first: the reader of a PR comment wants them without scrolling.
    for outcome in sorted(outcomes, key=lambda o: (attention_rank(o), o.kind, o.scenario_id)):
        rows.append(
            f"| `{cell(outcome.scenario_id)}` | {outcome.kind} | {cell(', '.join(outcome.techniques))} "
            f"| {marker(outcome)} | {seconds(outcome.latency_s)} | {cell(outcome.reason)} |"
        )
    return rows


def _precision_rows(rows: list[RulePrecision]) -> list[str]:
    lines = [
        "| rule | precision | true positives (expected + allowed collateral) "
        "| false positives (benign + soak + unlisted collateral) | false positives on |",
        "|---|---:|---:|---:|---|",
    ]
    # Least precise first: those are the rules to look at.
    for row in sorted(rows, key=lambda r: (r.precision if r.precision is not None else 2.0, r.rule_id)):
        where = ", ".join(f"`{cell(w)}`" for w in sorted(row.false_positive_on)) or "-"
        lines.append(
            f"| `{cell(row.rule_id)}` | {precision_text(row.precision)} "
            f"| {row.true_positives} ({row.expected} + {row.allowed_collateral}) "
            f"| {row.false_positives} ({row.benign} + {row.soak} + {row.unlisted_collateral}) | {where} |"
        )
    return lines


def _collateral_lines(outcomes: list[Outcome]) -> list[str]:
    lines: list[str] = []
    for outcome in outcomes:
        if not outcome.collateral:
            continue
        lines.append(f"- `{cell(outcome.scenario_id)}`:")
        for item in outcome.collateral:
            if item.allowed:
                lines.append(f"  - `{cell(item.rule_id)}` on `{cell(item.object)}`, allowed: {cell(item.reason)}")
            else:
                lines.append(f"  - **[FAIL]** `{cell(item.rule_id)}` on `{cell(item.object)}`, unlisted: "
                             "a false positive of that rule (not in the scenario's may_fire)")
    return lines or ["None: no rule outside a scenario's expected ones alerted on an adversary."]


def _soak_lines(soak: SoakResult) -> list[str]:
    if soak.status != "complete":
        state = f"**[ERROR] soak {cell(soak.status)}**"
    elif soak.alerts:
        state = f"**[FAIL] {len(soak.alerts)} false positive(s)**"
    else:
        state = "[ok] no alert"
    lines = [
        f"{state}: {cell(soak.reason)} ({soak.minutes:g} minutes from {iso_utc(soak.started_at)}; "
        "every alert on the fleet is a false positive)",
        "",
        "| service | what it does | what it did (checks) | healthy |",
        "|---|---|---|---|",
    ]
    for service in soak.services:
        checks = "; ".join(service.checks) or "-"
        lines.append(f"| `{cell(service.name)}` | {cell(service.does)} | {cell(checks)} "
                     f"| {'yes' if service.healthy else '**no**'} |")
    if soak.alerts:
        lines += ["", "Alerts during the soak, each a false positive:", ""]
    for alert in soak.alerts:
        lines.append(f"- **[FAIL] false positive** `{cell(str(alert.get('rule_id')))}` on "
                     f"`{cell(str(alert.get('object')))}`: {cell(str(alert.get('title', '')))}")
    return lines


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
        "### Precision by rule",
        "",
        "One alert is one unit. True positives: alerts on adversary objects from a rule the scenario "
        "expects or allows (`may_fire`, with its reason). False positives: alerts on benign twins, in the "
        "soak, and unlisted collateral (a rule the adversary scenario neither expects nor allows).",
        "",
        *(_precision_rows(rule_precision(run)) if rule_precision(run) else ["No rule raised anything."]),
        "",
        "### Collateral",
        "",
        *_collateral_lines(run.outcomes),
        "",
        "### False positives",
        "",
    ]
    by_rule = false_positive_rules(run.outcomes)
    soak_alerts = 0 if run.soak is None else len(run.soak.alerts)
    if not (by_rule or summary["unlisted_collateral_rules"] or soak_alerts):
        lines.append("None: every benign twin stayed silent, no adversary drew unlisted collateral, no soak alert.")
    elif not by_rule:
        lines.append("Every benign twin stayed silent; the false positives came from elsewhere:")
    for rule_id, scenario_ids in by_rule.items():
        lines.append(f"- `{cell(rule_id)}` fired on {', '.join(f'`{cell(s)}`' for s in scenario_ids)}")
    for rule_id, scenario_ids in summary["unlisted_collateral_rules"].items():
        lines.append(f"- `{cell(rule_id)}` unlisted collateral on "
                     f"{', '.join(f'`{cell(s)}`' for s in scenario_ids)}")
    if soak_alerts:
        lines.append(f"- the soak: {soak_alerts} alert(s), listed under Soak")
    skipped = [o for o in run.outcomes if o.verdict is Verdict.SKIPPED]
    if skipped:
        lines += ["", "### Skipped", "", "A skip is not a pass: `stowaway run` fails unless `--allow-skips`.", ""]
        lines += [f"- `{cell(o.scenario_id)}` ({cell(o.backend)}): {cell(o.reason)}" for o in skipped]
    if run.soak is not None:
        lines += ["", "### Soak", "", *_soak_lines(run.soak)]
    robustness = robustness_lines(run)
    if robustness:
        lines += ["", "### Robustness over variants", "", *robustness]
    if any(o.triage for o in run.outcomes):
        lines += ["", "### Triage of the first alerts", "", *triage_lines(run, cell)]
    if any(o.response is not None for o in run.outcomes):
        lines += ["", "### Response", "", *response_lines(run, cell)]
    if run.external:
        lines += ["", "### Detectors side by side", "", *external_lines(run, cell)]
    sensors = run.environment.get("sensors")
    if isinstance(sensors, list) and sensors:
        lines += ["", "### Sensors", "", *sensor_lines(sensors)]
    return "\n".join(lines) + "\n"


def sensor_lines(sensors: list[dict[str, Any]]) -> list[str]:
    """Which sensors ran; the ones that did not, and why (the scenarios they feed are blind without them)."""
    running = sorted(str(s.get("name")) for s in sensors if s.get("state") == "running")
    lines = [f"{len(running)} of {len(sensors)} running: {', '.join(f'`{cell(n)}`' for n in running) or 'none'}."]
    for sensor in sensors:
        if sensor.get("state") != "running":
            lines.append(f"- **{cell(str(sensor.get('state')))}** `{cell(str(sensor.get('name')))}`: "
                         f"{cell(str(sensor.get('reason') or ''))}")
    return lines
