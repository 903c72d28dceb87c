"""The response section of a scorecard (``run --respond``): per scenario, what the playbook did and
what proved it, and the run's figures. Markdown and HTML read the same rows and figures here.

* ``contained``: the containment checks held (no connection out from inside, the engine reports it
  paused, nothing new in the lab internet's record from its addresses);
* ``evidence``: the bundle's manifest lists nothing missing that the workload could have had, and it
  holds every indicator the scenario planted;
* ``released``: the workload is back as it was (its networks and addresses and its reach, or running);
* time to contain: from the trigger alert's raise to the containment in place. The response waits
  until every expected rule has fired, so this includes that wait: it is the time a responder that
  acts on a scenario's full detection would take, not the engine's reaction alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from harness.outcome import Outcome, ResponseResult, RunResult
from harness.scorecard.figures import percentile


@dataclass(frozen=True, slots=True)
class ResponseFigures:
    responses: int
    passed: int
    contained: int
    evidence_complete: int
    released: int
    time_to_contain_median_s: float | None
    time_to_contain_p95_s: float | None

    def headline(self) -> str:
        def secs(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} s"

        return (f"{self.responses} response(s): {self.passed} passed; {self.contained} contained, "
                f"{self.evidence_complete} with complete evidence, {self.released} released; time to contain "
                f"median {secs(self.time_to_contain_median_s)}, p95 {secs(self.time_to_contain_p95_s)}")


def responded(run: RunResult) -> list[tuple[Outcome, ResponseResult]]:
    return [(o, o.response) for o in run.outcomes if o.response is not None]


def figures(run: RunResult) -> ResponseFigures:
    rows = [r for _, r in responded(run)]
    times = sorted(t for r in rows if (t := r.time_to_contain_s) is not None)
    return ResponseFigures(
        responses=len(rows), passed=sum(r.passed for r in rows),
        contained=sum(r.contained for r in rows if r.action != "none"),
        evidence_complete=sum(bool(r.evidence) and r.evidence_complete and not r.planted_missing for r in rows),
        released=sum(r.released for r in rows if r.action != "none"),
        time_to_contain_median_s=percentile(times, 50) if times else None,
        time_to_contain_p95_s=percentile(times, 95) if times else None)


def _yes(value: bool, when: bool = True) -> str:
    return "-" if not when else ("yes" if value else "NO")


def _evidence(r: ResponseResult) -> str:
    if not r.evidence:
        return "-"
    planted = f"{len(r.planted) - len(r.planted_missing)}/{len(r.planted)} planted" if r.planted else "nothing planted"
    return f"{'complete' if r.evidence_complete else 'INCOMPLETE'}, {planted}"


def _related(r: ResponseResult) -> str:
    if not r.related:
        return "-"
    own = sum(bool(x.get("same_scenario")) for x in r.related)
    return f"{len(r.related)} ({own} of the scenario's own)"


def markdown_lines(run: RunResult, esc: Callable[[str], str] = str) -> list[str]:
    lines = [figures(run).headline() + ".", "",
             "| scenario | playbook | action | contained | time to contain | evidence | related | released | problem |",
             "|---|---|---|---|---:|---|---|---|---|"]
    for outcome, r in responded(run):
        ttc = "-" if r.time_to_contain_s is None else f"{r.time_to_contain_s:.1f} s"
        problem = r.error or "; ".join(c for c in r.checks + r.release_checks if not r.passed) or ""
        missing = f"missing {', '.join(r.planted_missing)}" if r.planted_missing else ""
        lines.append(f"| `{esc(outcome.scenario_id)}` | {esc(r.playbook)} | {r.action} | "
                     f"{_yes(r.contained, r.action != 'none')} | {ttc} | {_evidence(r)} | {_related(r)} | "
                     f"{_yes(r.released, r.action != 'none')} | {esc('; '.join(x for x in (problem, missing) if x))} |")
    return lines


def html_section(run: RunResult) -> str:
    rows = responded(run)
    if not rows:
        return ""
    body = "".join(
        f'<tr data-scenario="{escape(o.scenario_id)}" data-response-passed="{str(r.passed).lower()}">'
        f"<td><code>{escape(o.scenario_id)}</code></td><td>{escape(r.playbook)}</td><td>{escape(r.action)}</td>"
        f"<td>{_yes(r.contained, r.action != 'none')}</td>"
        f"<td>{'-' if r.time_to_contain_s is None else f'{r.time_to_contain_s:.1f} s'}</td>"
        f"<td>{escape(_evidence(r))}</td><td>{escape(_related(r))}</td><td>{_yes(r.released, r.action != 'none')}</td>"
        f"<td class=\"text\">{'<br>'.join(escape(c) for c in [*r.checks, *r.release_checks, r.error] if c)}</td></tr>"
        for o, r in rows)
    return ('<h2>Response</h2><div id="response"><p class="note">Each detected adversary, acted on by the auto '
            "playbook its alerts trigger, once its detection was decided: containment proved from inside the "
            "workload and by the lab internet's record, evidence checked for what the scenario planted, the "
            f"workload released and proved back.</p><p>{escape(figures(run).headline())}</p><table><thead><tr>"
            "<th>scenario</th><th>playbook</th><th>action</th><th>contained</th><th>time to contain</th>"
            "<th>evidence</th><th>related</th><th>released</th><th>checks</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div>")
