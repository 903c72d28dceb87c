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
"""

from __future__ import annotations

import math
import os
import statistics
from html import escape
from pathlib import Path

from harness.outcome import Outcome, RunResult, SoakResult, Verdict
from harness.scorecard.json_report import (
    RulePrecision,
    attention_rank,
    concluded,
    false_positive_rules,
    iso_utc,
    rule_precision,
    summarize,
    techniques_of,
)

# Sensors in the order a defender reads them: orchestrator, then host, network, files, resources.
KNOWN_SOURCES = (
    "docker-events",
    "kubernetes-audit",
    "tracefs-exec",
    "tracefs-net",
    "packet-capture",
    "fim",
    "cgroup-resources",
)

STATE_COLORS = {
    "detected": "#2da44e",
    "partial": "#d4a72c",
    "missed": "#cf222e",
    "logged": "#c8d1da",
    "false-positive": "#8250df",
    "silent": "#8cc8ff",
    "not-concluded": "#afb8c1",
    "no-telemetry": "#eef1f4",
}
STATE_LABELS = {
    "detected": "all adversary scenarios detected",
    "partial": "some detected",
    "missed": "seen by the sensor, not detected",
    "logged": "seen by the sensor; the alert came from another sensor",
    "false-positive": "benign twin raised an alert",
    "silent": "benign twins only, silent",
    "not-concluded": "skipped or error only",
    "no-telemetry": "sensor saw nothing of it",
}
VERDICT_COLORS = {
    Verdict.DETECTED: "#2da44e",
    Verdict.SILENT: "#2da44e",
    Verdict.MISSED: "#cf222e",
    Verdict.FALSE_POSITIVE: "#8250df",
    Verdict.ERROR: "#bc4c00",
    Verdict.SKIPPED: "#6e7781",
}


def data_sources(run: RunResult) -> list[str]:
    """Columns of the heatmap: sensors that saw anything in this run, known ones in a fixed order."""
    seen = {s for o in run.outcomes for s in o.data_sources}
    return [s for s in KNOWN_SOURCES if s in seen] + sorted(seen - set(KNOWN_SOURCES))


def detected_via(outcome: Outcome, source: str) -> bool | None:
    """Did an expected rule fire on an event from ``source``? None for scorecards written before
    alerts named their data source (they can only say the sensor saw the scenario)."""
    if not any("data_source" in alert for alert in outcome.alerts):
        return None
    if outcome.verdict is not Verdict.DETECTED:
        return False
    expected = {rule.rule_id for rule in outcome.rules if rule.fired}
    return any(alert.get("rule_id") in expected and source in str(alert.get("data_source", "")).split(",")
               for alert in outcome.alerts)


def detected_count(outcomes: list[Outcome], source: str) -> int:
    """Adversary scenarios this source's telemetry detected (a sensor that only watched while
    another one raised the alert gets no credit for it)."""
    count = 0
    for outcome in outcomes:
        via = detected_via(outcome, source)
        count += outcome.verdict is Verdict.DETECTED if via is None else via
    return count


def cell_state(outcomes: list[Outcome], source: str = "") -> str:
    """Outcome of one technique as one sensor saw it. Adversary results win over benign ones."""
    if not outcomes:
        return "no-telemetry"
    judged = [o for o in outcomes if concluded(o)]
    if judged:
        detected = detected_count(judged, source)
        if detected == len(judged):
            return "detected"
        if detected:
            return "partial"
        return "logged" if all(o.verdict is Verdict.DETECTED for o in judged) else "missed"
    if any(o.verdict is Verdict.FALSE_POSITIVE for o in outcomes):
        return "false-positive"
    if any(o.verdict is Verdict.SILENT for o in outcomes):
        return "silent"
    return "not-concluded"


def rule_latencies(run: RunResult) -> dict[str, list[float]]:
    """rule id -> detection latencies on adversary scenarios (a benign firing is not a detection)."""
    by_rule: dict[str, list[float]] = {}
    for outcome in run.outcomes:
        if outcome.kind != "adversary":
            continue
        for rule in outcome.rules:
            if rule.fired and rule.latency_s is not None:
                by_rule.setdefault(rule.rule_id, []).append(rule.latency_s)
    return by_rule


def nice_ceiling(value: float) -> float:
    """Round an axis maximum up to a step whose fifths are round numbers (15 -> gridlines every 3)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * magnitude >= value)


def _svg_open(element_id: str, label: str, width: float, height: float) -> str:
    return (
        f'<svg id="{element_id}" role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    )


def _text(x: float, y: float, body: str, **attrs: str) -> str:
    # class_ stands in for the reserved word; other underscores become SVG's hyphens (text_anchor).
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(body)}</text>'


def heatmap_svg(run: RunResult) -> str:
    sources = data_sources(run)
    techniques = techniques_of(run.outcomes)
    label_w, cell_w, cell_h, head_h, gap = 110, 144, 46, 44, 4
    width = label_w + max(1, len(sources)) * (cell_w + gap) + 10
    height = head_h + max(1, len(techniques)) * (cell_h + gap) + 10
    parts = [_svg_open("heatmap", "coverage by technique and data source", width, height)]
    for col, source in enumerate(sources):
        x = label_w + col * (cell_w + gap) + cell_w / 2
        parts.append(_text(x, head_h - 14, source, class_="col-label", text_anchor="middle"))
    for row, (technique, outcomes) in enumerate(techniques.items()):
        y = head_h + row * (cell_h + gap)
        parts.append(
            _text(label_w - 10, y + cell_h / 2 + 5, technique, class_="row-label", text_anchor="end")
        )
        for col, source in enumerate(sources):
            seen = [o for o in outcomes if source in o.data_sources]
            state = cell_state(seen, source)
            judged = [o for o in seen if concluded(o)]
            detected = detected_count(judged, source)
            fp = any(o.verdict is Verdict.FALSE_POSITIVE for o in seen)
            x = label_w + col * (cell_w + gap)
            tip = f"{technique} via {source}: {STATE_LABELS[state]}" + "".join(
                f"\n{o.scenario_id}: {o.verdict.value}" for o in seen
            )
            stroke = ' stroke="#8250df" stroke-width="4"' if fp and state != "false-positive" else ""
            parts.append(
                f'<g class="cell-group"><rect class="cell" x="{x}" y="{y}" width="{cell_w}" '
                f'height="{cell_h}" rx="5" fill="{STATE_COLORS[state]}"{stroke} '
                f'data-technique="{escape(technique)}" data-source="{escape(source)}" '
                f'data-state="{state}" data-false-positive="{str(fp).lower()}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            label = (
                ("seen" if state == "logged" else f"{detected}/{len(judged)} detected")
                if judged
                else ("" if not seen else state.replace("-", " "))
            )
            if fp and judged:
                label += " + FP"
            dark = state in ("detected", "missed", "false-positive")
            parts.append(
                _text(
                    x + cell_w / 2,
                    y + cell_h / 2 + 4,
                    label,
                    class_="cell-label" + (" on-dark" if dark else ""),
                    text_anchor="middle",
                )
            )
            parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def latency_svg(run: RunResult) -> str:
    by_rule = rule_latencies(run)
    rows = sorted(
        ((rule, statistics.median(v), max(v), len(v)) for rule, v in by_rule.items()),
        key=lambda r: (-r[1], r[0]),
    )
    label_w, bar_h, gap, chart_w, top = 330, 24, 10, 560, 30
    height = top + max(1, len(rows)) * (bar_h + gap) + 30
    width = label_w + chart_w + 120
    scale_max = nice_ceiling(max((r[2] for r in rows), default=1.0))
    parts = [_svg_open("latency-chart", "detection latency per rule", width, height)]
    # Five gridlines: enough to read a value, few enough not to compete with the bars.
    for i in range(6):
        value = scale_max * i / 5
        x = label_w + chart_w * i / 5
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 24}"/>')
        parts.append(_text(x, height - 8, f"{value:g} s", class_="axis", text_anchor="middle"))
    for i, (rule, median, worst, count) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = max(2.0, chart_w * median / scale_max)
        parts.append(_text(label_w - 10, y + bar_h / 2 + 5, rule, class_="row-label", text_anchor="end"))
        parts.append(
            f'<rect class="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3" '
            f'data-rule="{escape(rule)}" data-latency="{median:.3f}" data-max="{worst:.3f}" '
            f'data-count="{count}"><title>{escape(rule)}: median {median:.2f} s, max {worst:.2f} s '
            f"over {count} detection(s)</title></rect>"
        )
        if worst > median:
            wx = label_w + chart_w * worst / scale_max
            parts.append(f'<line class="max-tick" x1="{wx:.1f}" y1="{y}" x2="{wx:.1f}" y2="{y + bar_h}"/>')
        parts.append(
            _text(label_w + w + 8, y + bar_h / 2 + 5, f"{median:.1f} s (n={count})", class_="bar-label")
        )
    if not rows:
        parts.append(_text(label_w, top + 16, "no detections in this run", class_="axis"))
    parts.append("</svg>")
    return "".join(parts)


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
        f"<td>{escape(severity)}</td><td><code>{escape(objects)}</code></td><td>{escape(reason)}</td></tr>"
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
    head = "".join(f"<th>{h}</th>" for h in ("rule", "precision", "true positives", "false positives",
                                             "false positives on"))
    return (f'<table id="precision" class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


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
                f"<td>{escape(item.reason or UNLISTED_NOTE)}</td></tr>"
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
        f"<td>{escape(s.does)}</td><td>{'<br>'.join(escape(c) for c in s.checks) or '-'}</td>"
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


def _scenario_table(run: RunResult) -> str:
    rows = []
    for o in sorted(run.outcomes, key=lambda o: (attention_rank(o), o.kind, o.scenario_id)):
        latency = "" if o.latency_s is None else f"{o.latency_s:.1f}"
        collateral = (
            f' <span class="pill" style="background:{VERDICT_COLORS[Verdict.FALSE_POSITIVE]}" '
            f'title="{escape(", ".join(sorted({c.rule_id for c in o.unlisted_collateral})))}">unlisted collateral'
            "</span>" if o.unlisted_collateral else ""
        )
        rows.append(
            f'<tr class="scenario" data-scenario="{escape(o.scenario_id)}" data-verdict="{o.verdict.value}" '
            f'data-passed="{str(o.passed).lower()}">'
            f"<td><code>{escape(o.scenario_id)}</code>"
            f"<br><small>{escape(o.title)}</small></td><td>{escape(o.kind)}</td>"
            f"<td>{escape(', '.join(o.techniques))}</td>"
            f'<td data-sort="{attention_rank(o)}"><span class="pill" style="background:{VERDICT_COLORS[o.verdict]}">'
            f"{escape(o.verdict.value.replace('_', ' '))}</span>{collateral}</td>"
            f'<td class="num" data-sort="{o.latency_s if o.latency_s is not None else -1}">{latency}</td>'
            f"<td>{escape(o.visibility.value)}</td><td>{escape(', '.join(o.data_sources) or '-')}</td>"
            f"<td>{escape(o.reason)}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "scenario",
            "kind",
            "ATT&amp;CK",
            "verdict",
            "latency (s)",
            "visibility",
            "data sources",
            "reason",
        )
    )
    return (
        f'<table id="scenarios" class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#ffffff; --panel:#f6f8fa; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:22px 32px; color:#fff; }
header.pass { background:#1a7f37; } header.fail { background:#b42318; } header.incomplete { background:#9a6700; }
header h1 { margin:0 0 4px; font-size:24px; } header p { margin:0; opacity:.92; }
main { padding:8px 32px 40px; max-width:1400px; }
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
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:var(--panel); cursor:pointer; user-select:none; } td.num { text-align:right; }
.pill { color:#fff; border-radius:10px; padding:1px 9px; font-size:12px; font-weight:600;
        white-space:nowrap; }
code { font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:12px; }
small { color:var(--muted); } .ok-note { color:#1a7f37; font-weight:600; }
.note { color:var(--muted); font-size:12px; }
.meter { display:inline-block; width:90px; height:10px; background:#eef1f4; border-radius:5px;
         vertical-align:0; margin-right:6px; overflow:hidden; }
.meter span { display:block; height:100%; }
h3 { font-size:15px; margin:18px 0 8px; }
"""

# Click a header to sort; numeric cells sort by data-sort. Without scripts the table stays readable.
SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, idx) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var asc = th.dataset.dir !== 'asc'; th.dataset.dir = asc ? 'asc' : 'desc';
    var key = function (tr) { var c = tr.cells[idx]; return c.dataset.sort !== undefined ?
      parseFloat(c.dataset.sort) : c.textContent.trim().toLowerCase(); };
    Array.from(body.rows).sort(function (a, b) { var x = key(a), y = key(b);
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); }).forEach(function (r) { body.appendChild(r); });
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
        ]
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
<div class="tiles">{tiles}</div>

<h2>Coverage by technique and data source</h2>
<p class="note">Each cell: what happened to the technique's scenarios that this sensor saw.
Adversary results decide the colour; benign twins colour a cell only when no adversary scenario
concluded there.</p>
{_legend()}
{heatmap_svg(run)}

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
{_soak_section(run.soak)}

<h2>Scenarios</h2>
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
