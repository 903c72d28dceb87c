"""Triage context in the scorecard: for the alerts an analyst would open first, what ``explain-alert``
says about them, in a few lines.

A recorded run (``stowaway run --record``, on by default in ``nox -s purple-team``) has every event
its alerts came from; for each adversary scenario the first alert of a rule it expects, and for each
false positive every alert (up to ``PER_OUTCOME``), get the triage ``explain-alert`` computes
(``harness.triage``), cut to what fits a report: the workload facts a responder reads first (those
the telemetry had), who or what deployed it, the policy fields the rule reads with the answer the
policy gave on the evidence, the sanction kinds that could make it benign, and the command that
prints the whole triage. A run that was not recorded has none, and the scorecard says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.outcome import RunResult

PER_OUTCOME = 3
KEY_FACTS = ("image", "image signature", "user", "privileged", "capabilities added", "pid namespace",
             "network mode", "mounts", "log driver", "swarm service name", "kubernetes namespace", "kubernetes pod")


def _chosen(outcome: Any) -> list[dict[str, Any]]:
    """The alerts of one outcome an analyst opens first."""
    alerts = sorted(outcome.alerts, key=lambda a: float(a.get("raised_at") or a.get("first_seen") or 0))
    if outcome.kind == "adversary":
        expected = {r.rule_id for r in outcome.rules if r.fired}
        first = next((a for a in alerts if a.get("rule_id") in expected), None)
        return [first] if first is not None else []
    return alerts[:PER_OUTCOME]  # a benign scenario's alerts are its false positives


def compact(t: Any, run_dir: Path) -> dict[str, Any]:
    """The few lines of a triage a report carries (``t`` is a ``harness.triage.Triage``)."""
    alert = t.alert.alert
    facts = {f.name: f.value for f in t.workload.facts if f.name in KEY_FACTS and f.value not in (None, "", [], {})}
    deployed = [f"{line.what} {line.detail}".strip() for line in t.deployment.engine][:2]
    deployed += [f"{f.name}: {f.value}" for f in t.deployment.facts if f.value not in (None, "")][:2]
    benign = t.benign
    fields = [{"field": row.field, "values": sorted({value.removeprefix(f"{row.field}=") for _, value in row.values})}
              for row in benign.fields]
    return {"rule_id": alert.rule_id, "object": alert.object, "workload": facts, "deployed": deployed,
            "policy_fields": fields, "sanction_kinds": list(benign.sanctioning_kinds),
            "explain": f"stowaway explain-alert {run_dir} {alert.rule_id}@{alert.object}"}


def attach(result: RunResult, run_dir: Path, rule_dirs: Sequence[Path] = ()) -> list[str]:
    """Give each outcome the triage of the alerts an analyst opens first (``outcome.triage``), from
    the run recorded in ``run_dir``; returns the problems, in words (a triage that failed costs that
    alert its lines, never the scorecard)."""
    from harness import triage
    from harness.replay import RecordingError, load_run
    from harness.triage.alerts import gather

    try:
        run = load_run(run_dir)
    except RecordingError as exc:
        return [f"triage: the recording could not be read ({exc})"]
    problems: list[str] = []
    alerts = gather((o.scenario_id, o.alerts) for o in result.outcomes)
    by_key = {(a.alert.rule_id, a.alert.object, a.alert.first_seen): a for a in alerts}
    detectors: dict[str, Any] = {}
    for outcome in result.outcomes:
        for raw in _chosen(outcome):
            chosen = by_key.get((raw["rule_id"], raw["object"], float(raw["first_seen"])))
            if chosen is None:
                continue
            rule = chosen.alert.rule_id
            try:
                if rule not in detectors:
                    detectors[rule] = triage.load_detector(rule, rule_dirs)
                policy, platform = triage.load_policy_context(run, chosen.alert, detectors[rule])
                found = triage.triage(chosen, alerts, run.events, detectors[rule], policy, platform, run.run_id,
                                      triage.FROM_SCORECARD)
            except Exception as exc:  # said on the run's output; the scorecard goes out without it
                problems.append(f"triage of {rule} on {chosen.alert.object}: {type(exc).__name__}: {exc}")
                continue
            outcome.triage.append(compact(found, run_dir))
    return problems


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)


def triage_lines(run: RunResult, cell: Any) -> list[str]:
    """The Markdown (and plain-text) form: one short block per alert an analyst opens first."""
    lines = ["What `stowaway explain-alert` says about each adversary's first expected alert and each false "
             "positive, cut short (the workload facts the telemetry had, who deployed it, what the rule's "
             "policy fields answered); the command under each prints the whole triage.", ""]
    for outcome in run.outcomes:
        for t in outcome.triage:
            facts = "; ".join(f"{name}: {_value(value)}" for name, value in t["workload"].items()) or "none seen"
            answered = "; ".join(f"`{f['field']}` = {', '.join(f['values']) or 'not set'}" for f in t["policy_fields"])
            lines.append(f"- **`{cell(outcome.scenario_id)}`**: `{cell(t['rule_id'])}` on `{cell(t['object'][:22])}`")
            lines.append(f"  - workload: {cell(facts)}")
            if t["deployed"]:
                lines.append(f"  - deployed: {cell(' / '.join(t['deployed']))}")
            if answered:
                lines.append(f"  - policy said: {cell(answered)}"
                             + (f" (sanctions that could apply: {', '.join(t['sanction_kinds'])})"
                                if t["sanction_kinds"] else ""))
            lines.append(f"  - `{cell(t['explain'])}`")
    return lines


def html_section(run: RunResult) -> str:
    """The HTML form: a table, one row per alert an analyst opens first."""
    from html import escape

    rows = [(o, t) for o in run.outcomes for t in o.triage]
    if not rows:
        return ""

    def row(o: Any, t: dict[str, Any]) -> str:
        facts = "<br>".join(escape(f"{k}: {_value(v)}") for k, v in t["workload"].items()) or "none seen"
        deployed = "<br>".join(escape(d) for d in t["deployed"])
        said = "<br>".join(escape(f"{f['field']} = {', '.join(f['values']) or 'not set'}") for f in t["policy_fields"])
        return (f'<tr data-scenario="{escape(o.scenario_id)}"><td><code>{escape(o.scenario_id)}</code></td>'
                f"<td><code>{escape(t['rule_id'])}</code></td><td class=\"text\">{facts}</td>"
                f"<td class=\"text\">{deployed}</td><td class=\"text\">{said}</td>"
                f"<td><code>{escape(t['explain'])}</code></td></tr>")

    body = "".join(row(o, t) for o, t in rows)
    return ('<h2>Triage of the first alerts</h2><div id="triage"><p class="note">What <code>stowaway explain-alert'
            "</code> says about each adversary's first expected alert and each false positive, cut short.</p>"
            "<table><thead><tr><th>scenario</th><th>rule</th><th>workload</th><th>deployed</th><th>policy said</th>"
            f"<th>whole triage</th></tr></thead><tbody>{body}</tbody></table></div>")
