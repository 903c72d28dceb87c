"""The HTML report's charts, as SVG made in Python: the technique x data-source heatmap and the
detection-latency bars (hooks for tests are listed in ``harness.scorecard.html``)."""

from __future__ import annotations

import math
import statistics
from html import escape

from harness.outcome import Outcome, RunResult, Verdict
from harness.scorecard.figures import concluded, techniques_of

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
    """Columns of the heatmap: sensors that saw anything of a canonical run (the heatmap is coverage,
    which variant rows do not count in), known ones in a fixed order."""
    seen = {s for o in run.outcomes if not o.variant_of for s in o.data_sources}
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


