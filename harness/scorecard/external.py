"""Detectors side by side: the embedded detectors' verdict and each external detector's, per scenario.

Every format reads these figures from here, so "auditd detected 3 of 9" means the same in Markdown,
HTML and JUnit. A detector's headline counts canonical rows only (like the embedded summary):

* ``detected`` / ``expected``: adversaries its mapping names, that concluded, and that it caught;
* ``no_expectation``: adversaries its mapping names no rule for (never counted as caught or missed);
* ``false_positives``: benign twins it alerted on, plus its alerts on the soak's fleet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from harness.outcome import Outcome, RunResult, Verdict

if TYPE_CHECKING:
    from harness.external.grading import DetectorReport, ExternalResult

SHORT = {  # verdict -> the word a table cell shows
    "detected": "detected", "missed": "MISSED", "no_expectation": "no expectation", "silent": "silent",
    "false_positive": "FALSE POSITIVE", "not_run": "not run",
}
EMBEDDED = {
    Verdict.DETECTED: "detected", Verdict.MISSED: "MISSED", Verdict.SILENT: "silent",
    Verdict.FALSE_POSITIVE: "FALSE POSITIVE", Verdict.ERROR: "error", Verdict.SKIPPED: "skipped",
}


@dataclass(frozen=True, slots=True)
class DetectorFigures:
    detector: str
    expected: int  # concluded adversaries its mapping names
    detected: int
    no_expectation: int
    twins_alerted: int
    twins_judged: int
    soak_alerts: int

    @property
    def false_positives(self) -> int:
        return self.twins_alerted + self.soak_alerts

    def headline(self) -> str:
        caught = f"{self.detected}/{self.expected} expected detections" if self.expected else "no expectation judged"
        return (f"{caught}, {self.no_expectation} adversaries with no expectation, "
                f"{self.twins_alerted}/{self.twins_judged} benign twins alerted on, {self.soak_alerts} soak alerts")


def figures(report: DetectorReport) -> DetectorFigures:
    canonical = [r for r in report.results if r.variant_of is None]
    concluded = [r for r in canonical if r.kind == "adversary" and r.verdict.value in ("detected", "missed")]
    twins = [r for r in canonical if r.kind != "adversary" and r.verdict.value in ("silent", "false_positive")]
    return DetectorFigures(
        detector=report.detector, expected=len(concluded),
        detected=sum(r.verdict.value == "detected" for r in concluded),
        no_expectation=sum(r.kind == "adversary" and r.verdict.value == "no_expectation" for r in canonical),
        twins_alerted=sum(r.verdict.value == "false_positive" for r in twins), twins_judged=len(twins),
        soak_alerts=sum(report.soak_false_positives.values()))


def embedded_word(outcome: Outcome) -> str:
    word = EMBEDDED[outcome.verdict]
    return f"{word}, unlisted collateral" if outcome.verdict.passed and outcome.unlisted_collateral else word


def external_word(result: ExternalResult | None) -> str:
    if result is None:
        return "-"
    word = SHORT[result.verdict.value]
    if result.verdict.value == "detected" and result.latency_s is not None:
        word += f" ({result.latency_s:.1f} s)"
    return word


def side_by_side(run: RunResult) -> list[tuple[Outcome, list[ExternalResult | None]]]:
    """Each canonical outcome with each external detector's result for it (None: not graded)."""
    by_detector = [{r.scenario_id: r for r in report.results} for report in run.external]
    return [(outcome, [found.get(outcome.scenario_id) for found in by_detector])
            for outcome in run.outcomes if outcome.variant_of is None]


def markdown_lines(run: RunResult, esc: Callable[[str], str] = str) -> list[str]:
    """The Markdown section; ``esc`` is the Markdown module's cell escaper (kept in one place)."""
    names = [report.detector for report in run.external]
    lines = [
        "Each detector's verdict on the same scenarios. An external detector is graded against its mapping "
        "file: an adversary the mapping names no rule for is *no expectation*, never a pass; every alert on a "
        "benign twin or the fleet is a false positive unless the mapping ignores that rule (listed below).",
        "",
    ]
    for report in run.external:
        lines.append(f"- **{esc(report.detector)}**: {figures(report).headline()}.")
    lines += ["", "| scenario | kind | stowaway | " + " | ".join(esc(n) for n in names) + " |",
              "|---|---|---|" + "---|" * len(names)]
    for outcome, results in side_by_side(run):
        lines.append(f"| `{esc(outcome.scenario_id)}` | {outcome.kind} | {embedded_word(outcome)} | "
                     + " | ".join(external_word(r) for r in results) + " |")
    for report in run.external:
        lines += ["", f"#### {esc(report.detector)}", "", *detail_lines(report, esc)]
    return lines


def detail_lines(report: DetectorReport, e: Callable[[str], str] = str) -> list[str]:
    lines = [
        f"Alerts from `{e(report.source)}` ({report.format} format), judged by "
        + (f"`{e(report.mapping)}`." if report.mapping else "no mapping file (every adversary: no expectation)."),
    ]
    if report.about:
        lines.append(f"{e(report.about)}")
    lines.append(f"{report.alerts} alerts read: {report.attributed} on this run's objects, "
                 f"{report.unattributed} on no lab object"
                 + (f" (most: {', '.join(f'`{e(k)}` {v}' for k, v in report.unattributed_rules.items())})"
                    if report.unattributed_rules else "")
                 + (f"; {report.unreadable} records unreadable" if report.unreadable else "") + ".")
    for rule, why in report.ignored.items():
        lines.append(f"- ignored `{e(rule)}`: {e(why)}")
    for rule, count in report.soak_false_positives.items():
        lines.append(f"- soak false positives of `{e(rule)}`: {count}")
    for problem in report.problems:
        lines.append(f"- unreadable: {e(problem)}")
    for note in report.notes:
        lines.append(f"- {e(note)}")
    return lines


# --- HTML ------------------------------------------------------------------------------------------

_COLOR_OF = {  # external verdict -> the embedded verdict whose colour it shares
    "detected": Verdict.DETECTED, "missed": Verdict.MISSED, "silent": Verdict.SILENT,
    "false_positive": Verdict.FALSE_POSITIVE, "not_run": Verdict.SKIPPED, "no_expectation": Verdict.SKIPPED,
}


def _pill(word: str, verdict: Verdict) -> str:
    from harness.scorecard.html_charts import VERDICT_COLORS

    return f'<span class="pill" style="background:{VERDICT_COLORS[verdict]}">{escape(word)}</span>'


def html_section(run: RunResult) -> str:
    if not run.external:
        return ""
    names = "".join(f"<th>{escape(r.detector)}</th>" for r in run.external)
    rows = []
    for outcome, results in side_by_side(run):
        cells = "".join(
            "<td>-</td>" if r is None else
            f'<td data-detector-verdict="{escape(r.verdict.value)}" title="{escape(r.reason)}">'
            f"{_pill(external_word(r), _COLOR_OF[r.verdict.value])}</td>" for r in results)
        rows.append(f'<tr data-scenario="{escape(outcome.scenario_id)}"><td><code>{escape(outcome.scenario_id)}'
                    f"</code></td><td>{escape(outcome.kind)}</td><td>{_pill(embedded_word(outcome), outcome.verdict)}"
                    f"</td>{cells}</tr>")
    summaries = "".join(f"<li><b>{escape(r.detector)}</b>: {escape(figures(r).headline())}</li>" for r in run.external)
    details = "".join(
        f'<h3>{escape(r.detector)}</h3><ul class="detector-detail">'
        + "".join(f"<li>{escape(line.removeprefix('- '))}</li>" for line in detail_lines(r)) + "</ul>"
        for r in run.external)
    return (
        '<h2>Detectors side by side</h2><div id="detectors">'
        '<p class="note">Each detector\'s verdict on the same scenarios. An external detector is graded against '
        "its mapping file: an adversary the mapping names no rule for is <i>no expectation</i>, never a pass; "
        "every alert on a benign twin or the fleet is a false positive unless the mapping ignores that rule.</p>"
        f"<ul>{summaries}</ul><table><thead><tr><th>scenario</th><th>kind</th><th>stowaway</th>{names}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{details}</div>"
    )
