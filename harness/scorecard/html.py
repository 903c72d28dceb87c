"""One self-contained HTML report for people: opens offline, no CDN, no external asset.

Charts are SVG generated here in Python rather than drawn by JavaScript, so the report renders the
same in a browser with scripts disabled, in a CI artifact viewer and in a headless screenshot. The
only script is a few lines that sort the scenario table; the page is complete without it.

Hooks for tests and for people who post-process the file: ``id="heatmap"`` with ``class="cell"``
rects carrying ``data-technique``/``data-source``/``data-state``, ``id="latency-chart"`` with
``class="bar"`` rects carrying ``data-rule``/``data-latency``, ``id="precision"`` with
``class="precision-row"`` rows carrying ``data-rule``/``data-precision``, ``id="collateral"`` with
``class="collateral-row"`` rows carrying ``data-scenario``/``data-rule``/``data-allowed``,
``class="fp-row"`` rows carrying ``data-rule``/``data-where``, ``class="scenario"`` rows carrying
``data-scenario``/``data-verdict``/``data-passed``, ``id="skipped"`` and ``id="soak"``.

A run with variant rows (``--variants``) also gets ``id="robustness"``: ``class="family-row"`` rows
carrying ``data-scenario``/``data-canonical``/``data-passed``/``data-run``, ``class="detector-row"``
rows carrying ``data-rule``/``data-fired``/``data-expected``, ``class="value-chip"`` spans carrying
``data-rule``/``data-dimension``/``data-value``/``data-fired``/``data-run``/``data-state`` (``blind``:
fired on none of the variants with that value, ``partial``, ``seen``), and ``class="variant"`` rows
carrying ``data-scenario``/``data-variant-of``/``data-verdict``/``data-passed``. Variant rows are
listed there, not in the scenario table, which keeps one row per scenario.

ATT&CK by name: ``id="techniques"`` has a ``class="technique-row"`` per technique carrying
``data-technique``/``data-tactics`` (short names, comma-separated), with its name and tactics from the
pinned catalogue (``scenarios/attack.yaml``, ``harness/tactics.yaml``). The scenario table is grouped
by tactic: one ``<tbody class="tactic-group" data-tactic="...">`` per tactic in the Enterprise matrix's
order (a scenario sits under the first tactic of its first technique; ``data-tactic="none"`` for
techniques the catalogue does not know), each ``class="scenario"`` row carrying ``data-tactic`` too, and
its ATT&CK cell naming each technique (``class="technique"`` spans carrying ``data-technique``) and the
scenario's tactics.

The page fits a laptop screen (1366 px) without sideways scrolling: charts scale down to the width
(``max-width:100%`` on SVG with a viewBox), and long ids in table cells wrap rather than widen the table.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from harness.outcome import Outcome, RunResult, SoakResult, Verdict
from harness.scorecard.external import html_section as external_section
from harness.scorecard.figures import (
    RulePrecision,
    attention_rank,
    false_positive_rules,
    iso_utc,
    rule_precision,
    summarize,
    technique_rows,
)
from harness.scorecard.html_charts import (
    STATE_COLORS,
    STATE_LABELS,
    VERDICT_COLORS,
    heatmap_svg,
    latency_svg,
)
from harness.scorecard.response import html_section as response_section
from harness.scorecard.robustness import DetectorRobustness, detectors, families
from harness.scorecard.triage import html_section as triage_section
from harness.tactics import Tactic, tactic_map
from scenarios.attack import catalog


def sortable_table(headers: tuple[str, ...] | list[str], body: str, table_id: str = "") -> str:
    """A table the page's script sorts by column; ``body`` is its tbody element(s), already escaped."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    ident = f' id="{table_id}"' if table_id else ""
    return f'<table{ident} class="sortable"><thead><tr>{head}</tr></thead>{body}</table>'

def _legend() -> str:
    items = "".join(
        f'<span class="legend-item"><span class="swatch" style="background:{STATE_COLORS[s]}"></span>'
        f"{escape(label)}</span>"
        for s, label in STATE_LABELS.items()
    )
    return (
        f'<div class="legend">{items}<span class="legend-item"><span class="swatch fp-outline"></span>'
        "also a false positive</span></div>"
    )


def _fp_row(rule_id: str, where: str, place: str, subtitle: str, alerts: list[dict], reason: str) -> str:
    objects = ", ".join(sorted({str(a.get("object", "")) for a in alerts})) or "-"
    severity = ", ".join(sorted({str(a.get("severity", "")) for a in alerts})) or "-"
    return (
        f'<tr class="fp-row" data-rule="{escape(rule_id)}" data-where="{escape(where)}">'
        f"<td><code>{escape(rule_id)}</code></td><td>{escape(where)}</td>"
        f"<td><code>{escape(place)}</code><br><small>{escape(subtitle)}</small></td>"
        f"<td>{escape(severity)}</td><td><code>{escape(objects)}</code></td>"
        f'<td class="text">{escape(reason)}</td></tr>'
    )


def _false_positive_section(run: RunResult) -> str:
    """Every false positive of the run: on benign twins, unlisted collateral on adversaries, the soak."""
    rows = []
    scenarios = {o.scenario_id: o for o in run.outcomes}
    for rule_id, ids in false_positive_rules(run.outcomes).items():
        for scenario_id in ids:
            outcome = scenarios[scenario_id]
            alerts = [a for a in outcome.alerts if a.get("rule_id") == rule_id]
            rows.append(_fp_row(rule_id, "benign twin", scenario_id, outcome.title, alerts, outcome.reason))
    for outcome in run.outcomes:
        for rule_id in sorted({c.rule_id for c in outcome.unlisted_collateral}):
            alerts = [a for a in outcome.alerts if a.get("rule_id") == rule_id]
            rows.append(_fp_row(rule_id, "unlisted collateral", outcome.scenario_id, outcome.title, alerts,
                                "the adversary scenario neither expects nor allows this rule (may_fire)"))
    if run.soak is not None:
        for rule_id in sorted({str(a.get("rule_id")) for a in run.soak.alerts}):
            alerts = [a for a in run.soak.alerts if str(a.get("rule_id")) == rule_id]
            rows.append(_fp_row(rule_id, "soak", "benign fleet", f"{run.soak.minutes:g} minutes", alerts,
                                "every alert on the benign fleet is a false positive"))
    if not rows:
        return ('<p class="ok-note" id="no-false-positives">None: every benign twin stayed silent, no adversary '
                "drew unlisted collateral, no soak alert.</p>")
    return (
        '<table id="false-positives"><thead><tr><th>rule</th><th>where</th><th>scenario</th><th>severity</th>'
        f"<th>object</th><th>why a false positive</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def precision_color(value: float | None) -> str:
    if value is None:
        return "#afb8c1"
    if value >= 1.0:
        return "#2da44e"
    return "#d4a72c" if value >= 0.5 else "#cf222e"


def _precision_section(rows: list[RulePrecision]) -> str:
    if not rows:
        return '<p class="note" id="precision">No rule raised anything in this run.</p>'
    body = []
    # Least precise first: those are the rules to look at.
    for row in sorted(rows, key=lambda r: (r.precision if r.precision is not None else 2.0, r.rule_id)):
        value = row.precision
        percent = "n/a" if value is None else f"{value:.0%}"
        width = 0 if value is None else round(100 * value)
        where = ", ".join(sorted(row.false_positive_on)) or "-"
        body.append(
            f'<tr class="precision-row" data-rule="{escape(row.rule_id)}" '
            f'data-precision="{"" if value is None else value}"><td><code>{escape(row.rule_id)}</code></td>'
            f'<td class="num" data-sort="{-1 if value is None else value}"><span class="meter">'
            f'<span style="width:{width}%;background:{precision_color(value)}"></span></span> {percent}</td>'
            f'<td class="num" data-sort="{row.true_positives}">{row.true_positives}'
            f" <small>({row.expected} expected + {row.allowed_collateral} allowed)</small></td>"
            f'<td class="num" data-sort="{row.false_positives}">{row.false_positives}'
            f" <small>({row.benign} benign + {row.soak} soak + {row.unlisted_collateral} collateral)</small></td>"
            f"<td><small>{escape(where)}</small></td></tr>"
        )
    return sortable_table(("rule", "precision", "true positives", "false positives", "false positives on"),
                          f"<tbody>{''.join(body)}</tbody>", "precision")


UNLISTED_NOTE = "not in the scenario's may_fire"


def _collateral_section(run: RunResult) -> str:
    rows = []
    for outcome in run.outcomes:
        for item in outcome.collateral:
            state = "allowed" if item.allowed else "unlisted: false positive"
            color = "#2da44e" if item.allowed else "#8250df"
            rows.append(
                f'<tr class="collateral-row" data-scenario="{escape(outcome.scenario_id)}" '
                f'data-rule="{escape(item.rule_id)}" data-allowed="{str(item.allowed).lower()}">'
                f"<td><code>{escape(outcome.scenario_id)}</code></td><td><code>{escape(item.rule_id)}</code></td>"
                f"<td><code>{escape(item.object)}</code></td>"
                f'<td><span class="pill" style="background:{color}">{escape(state)}</span></td>'
                f'<td class="text">{escape(item.reason or UNLISTED_NOTE)}</td></tr>'
            )
    if not rows:
        return '<p class="ok-note" id="collateral">None: no rule outside a scenario\'s expected ones alerted.</p>'
    return ('<table id="collateral"><thead><tr><th>adversary scenario</th><th>rule</th><th>object</th>'
            f"<th>judged</th><th>reason</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _skipped_section(run: RunResult) -> str:
    skipped = [o for o in run.outcomes if o.verdict is Verdict.SKIPPED]
    if not skipped:
        return ""
    items = "".join(f'<li data-scenario="{escape(o.scenario_id)}"><code>{escape(o.scenario_id)}</code> '
                    f"({escape(o.backend)}): {escape(o.reason)}</li>" for o in skipped)
    return ('<h2>Skipped</h2><p class="note">A skip is not a pass: <code>stowaway run</code> fails unless '
            f'<code>--allow-skips</code>.</p><ul id="skipped">{items}</ul>')


def _soak_section(soak: SoakResult | None) -> str:
    if soak is None:
        return ""
    if soak.status != "complete":
        state, color = f"soak {soak.status}", VERDICT_COLORS[Verdict.ERROR]
    elif soak.alerts:
        state, color = f"{len(soak.alerts)} false positive(s)", VERDICT_COLORS[Verdict.FALSE_POSITIVE]
    else:
        state, color = "no alert", VERDICT_COLORS[Verdict.SILENT]
    services = "".join(
        f'<tr class="service-row" data-service="{escape(s.name)}"><td><code>{escape(s.name)}</code></td>'
        f'<td class="text">{escape(s.does)}</td>'
        f"<td>{'<br>'.join(escape(c) for c in s.checks) or '-'}</td>"
        f"<td>{'yes' if s.healthy else '<b>no</b>'}</td></tr>"
        for s in soak.services
    )
    alerts = "".join(
        f'<tr class="soak-alert" data-rule="{escape(str(a.get("rule_id")))}"><td><code>'
        f'{escape(str(a.get("rule_id")))}</code></td><td><code>{escape(str(a.get("object")))}</code></td>'
        f'<td>{escape(str(a.get("severity", "")))}</td><td>{escape(str(a.get("title", "")))}</td></tr>'
        for a in soak.alerts
    )
    alert_table = (
        "<h3>Alerts, each a false positive</h3><table><thead><tr><th>rule</th><th>object</th><th>severity</th>"
        f"<th>title</th></tr></thead><tbody>{alerts}</tbody></table>" if soak.alerts else ""
    )
    return (
        f'<h2>Soak: the benign fleet</h2><div id="soak" data-passed="{str(soak.passed).lower()}">'
        f'<p><span class="pill" style="background:{color}">{escape(state)}</span> {escape(soak.reason)} '
        f"({soak.minutes:g} minutes from {escape(iso_utc(soak.started_at))}; every alert on the fleet is a "
        "false positive)</p><table><thead><tr><th>service</th><th>what it does</th><th>what it did (checks)</th>"
        f"<th>healthy</th></tr></thead><tbody>{services}</tbody></table>{alert_table}</div>"
    )


def _verdict_pills(o: Outcome) -> str:
    collateral = (
        f' <span class="pill" style="background:{VERDICT_COLORS[Verdict.FALSE_POSITIVE]}" '
        f'title="{escape(", ".join(sorted({c.rule_id for c in o.unlisted_collateral})))}">unlisted collateral'
        "</span>" if o.unlisted_collateral else ""
    )
    return (f'<span class="pill" style="background:{VERDICT_COLORS[o.verdict]}">'
            f"{escape(o.verdict.value.replace('_', ' '))}</span>{collateral}")


# How a detector did on the variants with one dimension value: fired on none, on some, on all of them.
VALUE_STATES = {"blind": "does not see", "partial": "fired on some", "seen": "fired on all"}


def value_state(fired: int, run: int) -> str:
    if fired == 0:
        return "blind"
    return "seen" if fired >= run else "partial"


def _share(passed: int, run: int) -> str:
    value = passed / run if run else None
    width = 0 if value is None else round(100 * value)
    return (f'<span class="share"><span class="meter"><span style="width:{width}%;'
            f'background:{precision_color(value)}"></span></span>{passed}/{run}</span>')


def _label(variant_id: str) -> str:
    """What a variant row's id says differs from the canonical run: the part after the @."""
    return variant_id.split("@", 1)[1] if "@" in variant_id else variant_id


def _family_table(run: RunResult) -> str:
    canonical_runs = {o.scenario_id: o for o in run.outcomes if not o.variant_of}
    rows = []
    for family in families(run):
        head_run = canonical_runs.get(family.scenario_id)
        if head_run is None:
            canonical, head = "none", '<span class="note">not in this run</span>'
        else:
            canonical, head = ("pass" if head_run.passed else "fail"), _verdict_pills(head_run)
        failed = "".join(f'<span class="chip bad">{escape(_label(v))}</span>' for v in family.failed)
        if family.errors:
            failed += (f'<span class="chip" title="{escape(", ".join(_label(v) for v in family.errors))}">'
                       f"{len(family.errors)} error(s) or skip(s), not counted</span>")
        ratio = -1 if family.ratio is None else family.ratio
        rows.append(
            f'<tr class="family-row" data-scenario="{escape(family.scenario_id)}" data-canonical="{canonical}" '
            f'data-passed="{family.variants_passed}" data-run="{family.variants_run}">'
            f"<td><code>{escape(family.scenario_id)}</code></td><td>{escape(family.kind)}</td><td>{head}</td>"
            f'<td class="num" data-sort="{ratio}">{_share(family.variants_passed, family.variants_run)}</td>'
            f"<td>{failed or 'none'}</td></tr>"
        )
    return sortable_table(("scenario", "kind", "canonical run", "variants passed", "failed variants"),
                          f"<tbody>{''.join(rows)}</tbody>", "families")


def _value_chips(rule: DetectorRobustness) -> str:
    by_dimension: dict[str, list[tuple[str, int, int]]] = {}
    for (dimension, value), (fired, run) in rule.by_value.items():
        by_dimension.setdefault(dimension, []).append((value, fired, run))
    lines = []
    for dimension in sorted(by_dimension):
        chips = []
        # Worst first, as in the Markdown: the values it does not see lead the line.
        for value, fired, run in sorted(by_dimension[dimension], key=lambda v: (v[1] / v[2], v[0])):
            state = value_state(fired, run)
            note = " <small>does not see</small>" if state == "blind" else ""
            chips.append(
                f'<span class="chip value-chip {state}" data-rule="{escape(rule.rule_id)}" '
                f'data-dimension="{escape(dimension)}" data-value="{escape(value)}" data-fired="{fired}" '
                f'data-run="{run}" data-state="{state}" title="{escape(f"{dimension}={value}")}: '
                f'{VALUE_STATES[state]}, fired on {fired} of the {run} variant run(s) with it">'
                f"{escape(value)} <b>{fired}/{run}</b>{note}</span>"
            )
        lines.append(f'<div class="dimension"><span class="dimension-name">{escape(dimension)}</span>'
                     f"{''.join(chips)}</div>")
    return "".join(lines) or "-"


def _detector_table(run: RunResult) -> str:
    rules = sorted(detectors(run), key=lambda r: (r.fired / r.expected if r.expected else 2.0, r.rule_id))
    if not rules:
        return '<p class="note" id="detectors">No adversary variant concluded: no detector to judge.</p>'
    rows = []
    for rule in rules:
        ratio = rule.fired / rule.expected if rule.expected else -1
        rows.append(
            f'<tr class="detector-row" data-rule="{escape(rule.rule_id)}" data-fired="{rule.fired}" '
            f'data-expected="{rule.expected}"><td><code>{escape(rule.rule_id)}</code></td>'
            f'<td class="num" data-sort="{ratio}">{_share(rule.fired, rule.expected)}</td>'
            f"<td>{_value_chips(rule)}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("detector", "fired on adversary variants",
                                             "by dimension value: fired/run with that value"))
    return (f'<table id="detectors"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _variant_table(variants: list[Outcome]) -> str:
    rows = []
    # Grouped by family, the wrong ones first inside each: read top-down like the scenario table.
    for o in sorted(variants, key=lambda o: (o.variant_of or "", attention_rank(o), o.scenario_id)):
        latency = "" if o.latency_s is None else f"{o.latency_s:.1f}"
        rows.append(
            f'<tr class="variant" data-scenario="{escape(o.scenario_id)}" '
            f'data-variant-of="{escape(o.variant_of or "")}" data-verdict="{o.verdict.value}" '
            f'data-passed="{str(o.passed).lower()}"><td><code class="wrap">{escape(_label(o.scenario_id))}</code>'
            f"<br><small>{escape(o.variant_of or '')}</small></td><td>{escape(o.kind)}</td>"
            f'<td data-sort="{attention_rank(o)}">{_verdict_pills(o)}</td>'
            f'<td class="num" data-sort="{o.latency_s if o.latency_s is not None else -1}">{latency}</td>'
            f'<td class="text">{escape(o.reason)}</td></tr>'
        )
    failing = any(not o.passed for o in variants)
    table = sortable_table(("variant", "kind", "verdict", "latency (s)", "reason"), f'<tbody>{"".join(rows)}</tbody>')
    return (f'<details id="variant-runs"{" open" if failing else ""}><summary>Every variant run '
            f"({len(variants)}): verdict and reason</summary>{table}</details>")


def _robustness_section(run: RunResult) -> str:
    variants = [o for o in run.outcomes if o.variant_of]
    if not variants:
        return ""
    drawn = run.environment.get("variants")
    drawn = drawn if isinstance(drawn, dict) else {}
    return (
        '<h2>Robustness over variants</h2><div id="robustness">'
        f'<p class="note">Variants drawn with seed {escape(str(drawn.get("seed", "?")))} '
        f'({escape(str(drawn.get("requested", "?")))} per scenario). A variant passes as its scenario would: '
        "an adversary detected with nothing unlisted, a benign twin silent. Errors and skips are not counted.</p>"
        f"{_family_table(run)}"
        "<h3>Per detector</h3>"
        '<p class="note">Of the adversary variant runs that expect the rule (the canonical run not included), '
        "how many it fired on; then, per dimension, each value with fired/run over the variants that had it, "
        'worst first. <span class="chip value-chip blind">0/n <small>does not see</small></span> '
        "the detector fired on none of them; "
        '<span class="chip value-chip partial">k/n</span> on some (it may only share variants with a value '
        'it does not see); <span class="chip value-chip seen">n/n</span> on all.</p>'
        f"{_detector_table(run)}{_variant_table(variants)}</div>"
    )


def _attack_cell(o: Outcome) -> str:
    """Each technique by id and name, then the scenario's tactics by name."""
    names = catalog()
    techniques = "<br>".join(
        f'<span class="technique" data-technique="{escape(t)}"><code>{escape(t)}</code>'
        + (f" {escape(names.name(t))}" if names.name(t) != t else "") + "</span>"
        for t in o.techniques)
    tactics = ", ".join(t.name for t in tactic_map().of_all(o.techniques))
    return f'{techniques}<br><small class="tactics">{escape(tactics or "no tactic in the catalogue")}</small>'


SCENARIO_COLUMNS = ("scenario", "kind", "ATT&amp;CK technique and tactics", "verdict", "latency (s)", "visibility",
                    "data sources", "reason")


def _scenario_row(o: Outcome, tactic: str) -> str:
    latency = "" if o.latency_s is None else f"{o.latency_s:.1f}"
    return (
        f'<tr class="scenario" data-scenario="{escape(o.scenario_id)}" data-verdict="{o.verdict.value}" '
        f'data-passed="{str(o.passed).lower()}" data-tactic="{escape(tactic)}">'
        f"<td><code>{escape(o.scenario_id)}</code>"
        f"<br><small>{escape(o.title)}</small></td><td>{escape(o.kind)}</td>"
        f"<td>{_attack_cell(o)}</td>"
        f'<td data-sort="{attention_rank(o)}">{_verdict_pills(o)}</td>'
        f'<td class="num" data-sort="{o.latency_s if o.latency_s is not None else -1}">{latency}</td>'
        f"<td>{escape(o.visibility.value)}</td><td>{escape(', '.join(o.data_sources) or '-')}</td>"
        f'<td class="text">{escape(o.reason)}</td></tr>'
    )


def _scenario_table(run: RunResult) -> str:
    """One row per scenario (its canonical run), grouped by tactic in the matrix's order, the wrong ones
    first inside each group. Variant rows are under Robustness, beside their family."""
    tactics = tactic_map()
    groups: dict[Tactic | None, list[Outcome]] = {}
    for o in (o for o in run.outcomes if not o.variant_of):
        groups.setdefault(tactics.primary(o.techniques), []).append(o)
    bodies = []
    for tactic in sorted(groups, key=tactics.order):
        outcomes = sorted(groups[tactic], key=lambda o: (attention_rank(o), o.kind, o.scenario_id))
        key = "none" if tactic is None else tactic.short_name
        title = ("No tactic in the pinned catalogue" if tactic is None
                 else f'{escape(tactic.name)} <small>{escape(tactic.id)}</small>')
        failing = sum(not o.passed for o in outcomes)
        count = (f"{len(outcomes)} scenario(s)" + (f", {failing} not passed" if failing else ", all passed"))
        rows = "".join(_scenario_row(o, key) for o in outcomes)
        bodies.append(
            f'<tbody class="tactic-group" data-tactic="{escape(key)}"><tr class="group">'
            f'<th colspan="{len(SCENARIO_COLUMNS)}" scope="rowgroup">{title} '
            f'<span class="group-count">{count}</span></th></tr>{rows}</tbody>'
        )
    return sortable_table(SCENARIO_COLUMNS, "".join(bodies), "scenarios")


def _technique_table(run: RunResult) -> str:
    """The heatmap's rows by name: each technique of the canonical runs, its tactics, its coverage."""
    names, tactics = catalog(), tactic_map()
    rows = []
    for row in technique_rows(run):
        technique = row["technique"]
        of = tactics.of(technique)
        coverage = "not tested" if row["coverage"] is None else f"{row['coverage']}%"
        rows.append(
            f'<tr class="technique-row" data-technique="{escape(technique)}" '
            f'data-tactics="{escape(",".join(t.short_name for t in of))}"><td><code>{escape(technique)}</code></td>'
            f"<td>{escape(names.name(technique))}</td>"
            f"<td>{escape(', '.join(t.name for t in of) or 'no tactic in the catalogue')}</td>"
            f'<td class="num">{row["adversary"]} + {row["benign"]}</td><td class="num">{coverage}</td></tr>'
        )
    if not rows:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("technique", "name", "tactics", "adversary + benign scenarios",
                                             "coverage"))
    # Folded: the heatmap stays next to its legend, and the scenario table names techniques anyway.
    return (f'<details id="technique-names"><summary>The {len(rows)} techniques by name and tactic</summary>'
            f'<table id="techniques"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></details>')


CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#ffffff; --panel:#f6f8fa; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:22px 32px; color:#fff; }
header.pass { background:#1a7f37; } header.fail { background:#b42318; } header.incomplete { background:#9a6700; }
header h1 { margin:0 0 4px; font-size:24px; } header p { margin:0; opacity:.92; }
main { padding:8px 32px 40px; max-width:1400px; }
@media (max-width: 1000px) { main, header { padding-left:12px; padding-right:12px; } }
h2 { margin:28px 0 10px; font-size:18px; border-bottom:1px solid var(--line); padding-bottom:6px; }
.tiles { display:flex; flex-wrap:wrap; gap:12px; margin-top:18px; }
.tile { background:var(--panel); border:1px solid var(--line); border-radius:8px;
        padding:10px 16px; min-width:120px; }
.tile b { display:block; font-size:22px; } .tile span { color:var(--muted); font-size:12px; }
svg text { font-family:inherit; font-size:12px; fill:var(--fg); }
svg .cell-label { font-size:12px; font-weight:600; } svg .cell-label.on-dark { fill:#fff; }
svg .col-label { font-weight:600; } svg .row-label { font-family:ui-monospace,"DejaVu Sans Mono",monospace; }
svg .bar { fill:#0969da; } svg .grid { stroke:#e1e4e8; } svg .axis { fill:var(--muted); font-size:11px; }
svg .max-tick { stroke:#1f2328; stroke-width:2; } svg .bar-label { fill:var(--muted); }
.legend { display:flex; flex-wrap:wrap; gap:14px; margin:8px 0 4px; color:var(--muted); font-size:12px; }
.swatch { display:inline-block; width:14px; height:14px; border-radius:3px;
          vertical-align:-2px; margin-right:5px; }
.fp-outline { border:3px solid #8250df; background:#fff; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top;
         overflow-wrap:break-word; }
th { background:var(--panel); cursor:pointer; user-select:none; } td.num { text-align:right; }
.pill { color:#fff; border-radius:10px; padding:1px 9px; font-size:12px; font-weight:600;
        white-space:nowrap; }
code { font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:12px; }
/* Long ids, digests and paths wrap anywhere rather than widen the page; short words stay whole. */
code, td.text, td small, li { overflow-wrap:anywhere; }
svg { max-width:100%; height:auto; }
tr.group th { background:#eaeef2; cursor:default; font-size:14px; padding-top:10px; }
.group-count { color:var(--muted); font-weight:normal; font-size:12px; margin-left:8px; }
.technique { display:inline-block; }
small { color:var(--muted); } .ok-note { color:#1a7f37; font-weight:600; }
.note { color:var(--muted); font-size:12px; }
.meter { display:inline-block; width:90px; height:10px; background:#eef1f4; border-radius:5px;
         vertical-align:0; margin-right:6px; overflow:hidden; }
.meter span { display:block; height:100%; }
h3 { font-size:15px; margin:18px 0 8px; }
.wrap { overflow-wrap:anywhere; } .share { white-space:nowrap; }
.chip { display:inline-block; border:1px solid var(--line); border-radius:10px; padding:0 8px; margin:1px 4px 1px 0;
        font-size:12px; background:var(--panel); overflow-wrap:anywhere; }
.chip.bad, .chip.blind { background:#ffebe9; border-color:#cf222e; color:#82071e; }
.chip.partial { background:#fff8c5; border-color:#d4a72c; } .chip.seen { background:#dafbe1; border-color:#2da44e; }
.chip small { color:inherit; font-weight:600; }
.dimension { margin:1px 0; } .dimension-name { color:var(--muted); font-size:12px; margin-right:6px; }
details summary { cursor:pointer; margin:14px 0 6px; font-weight:600; }
"""

# Click a header to sort; numeric cells sort by data-sort. Rows sort inside their group (a tactic's
# tbody), whose heading row stays first. Without scripts the table stays readable.
SCRIPT = """
document.querySelectorAll('table.sortable thead th').forEach(function (th, idx) {
  th.addEventListener('click', function () {
    var asc = th.dataset.dir !== 'asc'; th.dataset.dir = asc ? 'asc' : 'desc';
    var key = function (tr) { var c = tr.cells[idx]; return c.dataset.sort !== undefined ?
      parseFloat(c.dataset.sort) : c.textContent.trim().toLowerCase(); };
    Array.from(th.closest('table').tBodies).forEach(function (body) {
      Array.from(body.rows).filter(function (r) { return !r.classList.contains('group'); })
        .sort(function (a, b) { var x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); })
        .forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def to_html(run: RunResult) -> str:
    summary = summarize(run)
    verdicts = summary["verdicts"]
    state = summary["state"].upper()
    rate = summary["detection_rate"]

    def tile(value: object, label: str) -> str:
        return f'<div class="tile"><b>{escape(str(value))}</b><span>{escape(label)}</span></div>'

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    variant_runs = [o for o in run.outcomes if o.variant_of]
    family_rows = families(run)
    variant_tile = [
        tile(f"{sum(f.variants_passed for f in family_rows)}/{sum(f.variants_run for f in family_rows)}",
             "variants passed")
    ] if family_rows else []
    tiles = "".join(
        [
            tile("n/a" if rate is None else f"{rate:.0%}", "detection rate"),
            tile(verdicts["detected"], "detected"),
            tile(verdicts["missed"], "missed"),
            tile(verdicts["silent"], "benign silent"),
            tile(verdicts["false_positive"], "false positives"),
            tile(verdicts["error"], "errors"),
            tile(verdicts["skipped"], "skipped"),
            tile(summary["unlisted_collateral"], "unlisted collateral"),
            *([tile(summary["soak_false_positives"], "soak false positives")] if run.soak is not None else []),
            tile(secs(summary["latency_median_s"]), "median latency"),
            tile(secs(summary["latency_p95_s"]), "p95 latency"),
            *variant_tile,
        ]
    )
    variant_note = (
        f'<p class="note">The counts above are the canonical runs\'; the {len(variant_runs)} variant run(s) are '
        "counted in the variants tile, and the run passes only if they pass too. Coverage (the heatmap, the "
        "Navigator layer) counts canonical runs only, and the scenario table lists them; the variants are "
        'under <a href="#robustness">Robustness over variants</a>.</p>' if variant_runs else ""
    )
    status_note = "" if run.status == "complete" else f" &middot; run {escape(run.status)}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stowaway scorecard {escape(run.run_id)}: {state}</title>
<style>{CSS}</style>
</head>
<body>
<header class="{state.lower()}" id="verdict" data-passed="{str(run.passed).lower()}">
<h1>Stowaway scorecard: {state}{status_note}</h1>
<p>Run <code>{escape(run.run_id)}</code> &middot; backend {escape(run.backend)} &middot;
<span id="attack-version">MITRE ATT&amp;CK v{escape(str(run.attack_version))} (Enterprise)</span> &middot;
{escape(iso_utc(run.started_at))} to {escape(iso_utc(run.finished_at))}</p>
</header>
<main>
<div class="tiles">{tiles}</div>{variant_note}

<h2>Coverage by technique and data source</h2>
<p class="note">Each cell: what happened to the technique's scenarios that this sensor saw.
Adversary results decide the colour; benign twins colour a cell only when no adversary scenario
concluded there.</p>
{_legend()}
{heatmap_svg(run)}
{_technique_table(run)}

<h2>Detection latency per rule</h2>
<p class="note">Median time from the scenario's decisive action to the alert;
the black tick marks the worst case.</p>
{latency_svg(run)}

<h2>Precision by rule</h2>
<p class="note">One alert is one unit. True positives: alerts on adversary objects from a rule the scenario
expects, or allows with a reason (allowed collateral). False positives: alerts on benign twins, during the
soak, and unlisted collateral (a rule the adversary scenario neither expects nor allows). Least precise first.</p>
{_precision_section(rule_precision(run))}

<h2>False positives</h2>
{_false_positive_section(run)}

<h2>Collateral on adversary scenarios</h2>
<p class="note">Alerts on an adversary's objects from rules it does not expect: allowed when the scenario
says why the rule is right to fire, otherwise a false positive of that rule.</p>
{_collateral_section(run)}
{_skipped_section(run)}
{_soak_section(run.soak)}{_robustness_section(run)}{triage_section(run)}{response_section(run)}{external_section(run)}

<h2>Scenarios by tactic</h2>
<p class="note">Grouped by ATT&amp;CK tactic (a scenario sits under the first tactic of its first technique);
inside each group the detectors' mistakes come first.</p>
{_scenario_table(run)}
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""


def write_html(run: RunResult, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(to_html(run), encoding="utf-8")
    return target
