"""The HTML report's robustness view: per family, per detector (the dimension values it misses),
every variant run once, and nothing of it when no variant ran."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from scorecard_fixtures import make_run

from harness.outcome import Outcome, RuleResult, RunResult, Verdict
from harness.scorecard.figures import summarize
from harness.scorecard.html import to_html
from harness.scorecard.html_charts import heatmap_svg

SCENARIO = "docker.logging.stdout-devnull"
TWIN = "docker.logging.foreground-web"
RULE = "stowaway.docker.output-discarded"


class Elements(HTMLParser):
    """Start tags with their attributes, and the text inside each element of class value-chip."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.chip_text: dict[tuple[str, str], str] = {}
        self._chip: tuple[str, str] | None = None
        self._depth = 0
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.tags.append((tag, found))
        if self._chip is not None:
            self._depth += 1
        elif "value-chip" in found.get("class", "").split() and "data-dimension" in found:
            self._chip, self._depth = (found["data-dimension"], found["data-value"]), 0
            self.chip_text[self._chip] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._chip is not None:
            if self._depth == 0:
                self._chip = None
            else:
                self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._chip is not None:
            self.chip_text[self._chip] += data

    def with_class(self, name: str) -> list[dict[str, str]]:
        return [a for _, a in self.tags if name in a.get("class", "").split()]

    def by_id(self, element_id: str) -> list[dict[str, str]]:
        return [a for _, a in self.tags if a.get("id") == element_id]


def outcome(scenario_id: str, verdict: Verdict, variant: dict[str, str], fired: bool | None = None,
            kind: str = "adversary", reason: str = "r") -> Outcome:
    return Outcome(scenario_id=scenario_id, title="t", kind=kind, techniques=["T1562.006"], backend="docker",
                   verdict=verdict, reason=reason, rules=[] if fired is None else [RuleResult(RULE, fired)],
                   variant_of=scenario_id.split("@", 1)[0] if "@" in scenario_id else None, variant=variant,
                   data_sources=["docker-events"])


def family() -> list[Outcome]:
    """The canonical run detected; of four concluded adversary variants, target=file is never seen,
    how=python seen once out of two; one variant errs; a benign twin's variant raises a false positive."""
    return [
        outcome(SCENARIO, Verdict.DETECTED, {"target": "devnull", "how": "shell"}, True),
        outcome(f"{SCENARIO}@how=python", Verdict.DETECTED, {"target": "devnull", "how": "python"}, True),
        outcome(f"{SCENARIO}@target=file", Verdict.MISSED, {"target": "file", "how": "shell"}, False,
                reason="the rule did not fire within 20 s"),
        outcome(f"{SCENARIO}@target=file,how=python", Verdict.MISSED, {"target": "file", "how": "python"}, False),
        outcome(f"{SCENARIO}@target=closed", Verdict.DETECTED, {"target": "closed", "how": "shell"}, True),
        outcome(f"{SCENARIO}@target=closed,how=python", Verdict.ERROR, {"target": "closed", "how": "python"}),
        outcome(TWIN, Verdict.SILENT, {"port": "80"}, kind="benign"),
        outcome(f"{TWIN}@port=9090", Verdict.FALSE_POSITIVE, {"port": "9090"}, kind="benign"),
    ]


def with_variants() -> RunResult:
    run = make_run()
    run.outcomes += family()
    run.environment["variants"] = {"requested": 4, "seed": 7}
    return run


def test_no_variants_no_robustness_view() -> None:
    html = to_html(make_run())
    dom = Elements(html)
    assert not dom.by_id("robustness") and not dom.with_class("variant") and not dom.with_class("family-row")
    assert "Robustness over variants" not in html and "variants passed" not in html


def test_a_value_the_detector_never_fired_on_reads_0_of_n_does_not_see() -> None:
    dom = Elements(to_html(with_variants()))
    (row,) = dom.with_class("detector-row")
    assert (row["data-rule"], row["data-fired"], row["data-expected"]) == (RULE, "2", "4")
    chips = {(c["data-dimension"], c["data-value"]): c for c in dom.with_class("value-chip") if "data-dimension" in c}
    states = {key: (c["data-fired"], c["data-run"], c["data-state"]) for key, c in chips.items()}
    assert states == {
        ("target", "file"): ("0", "2", "blind"),
        ("target", "devnull"): ("1", "1", "seen"),
        ("target", "closed"): ("1", "1", "seen"),
        ("how", "shell"): ("1", "2", "partial"),
        ("how", "python"): ("1", "2", "partial"),
    }
    assert dom.chip_text[("target", "file")].split() == ["file", "0/2", "does", "not", "see"]
    assert "does not see" not in dom.chip_text[("how", "python")]


def test_the_values_it_does_not_see_lead_their_dimension() -> None:
    html = to_html(with_variants())
    target = re.findall(r'data-dimension="target" data-value="([^"]+)"', html)
    assert target[0] == "file"


def test_a_family_row_counts_concluded_variants_and_names_the_failed_ones() -> None:
    dom = Elements(to_html(with_variants()))
    rows = {r["data-scenario"]: r for r in dom.with_class("family-row")}
    assert (rows[SCENARIO]["data-canonical"], rows[SCENARIO]["data-passed"], rows[SCENARIO]["data-run"]) == \
        ("pass", "2", "4")  # the error is not counted
    assert (rows[TWIN]["data-passed"], rows[TWIN]["data-run"]) == ("0", "1")
    html = to_html(with_variants())
    families = html.split('id="families"', 1)[1].split("</table>", 1)[0]
    failed = re.findall(r'<span class="chip bad">([^<]+)</span>', families)
    assert sorted(failed) == ["port=9090", "target=file", "target=file,how=python"]
    assert "1 error(s) or skip(s), not counted" in families


def test_variant_rows_are_listed_once_under_robustness_not_in_the_scenario_table() -> None:
    run = with_variants()
    dom = Elements(to_html(run))
    canonical = [o.scenario_id for o in run.outcomes if not o.variant_of]
    variants = [o.scenario_id for o in run.outcomes if o.variant_of]
    assert sorted(r["data-scenario"] for r in dom.with_class("scenario")) == sorted(canonical)
    assert sorted(r["data-scenario"] for r in dom.with_class("variant")) == sorted(variants)
    by_id = {r["data-scenario"]: r for r in dom.with_class("variant")}
    assert (by_id[f"{SCENARIO}@target=file"]["data-verdict"], by_id[f"{SCENARIO}@target=file"]["data-passed"]) == \
        ("missed", "false")
    assert by_id[f"{TWIN}@port=9090"]["data-variant-of"] == TWIN
    assert dom.by_id("variant-runs")[0].get("open") is not None  # a variant failed: its reasons are shown


def test_the_tiles_count_canonical_runs_and_say_how_many_variants_passed() -> None:
    run = with_variants()
    html = to_html(run)
    assert "<b>2/5</b><span>variants passed</span>" in html
    assert "the 6 variant run(s) are counted in the variants tile" in html
    summary = summarize(run)
    assert summary["total"] == len([o for o in run.outcomes if not o.variant_of])
    assert summary["variants"]["total"] == 6


def test_variants_do_not_change_the_coverage_heatmap() -> None:
    run = with_variants()
    canonical_only = with_variants()
    canonical_only.outcomes = [o for o in canonical_only.outcomes if not o.variant_of]
    assert heatmap_svg(run) == heatmap_svg(canonical_only)


def test_robustness_text_is_escaped_and_the_report_stays_offline() -> None:
    run = with_variants()
    hostile = outcome(f"{SCENARIO}@target=<script>x</script>", Verdict.MISSED,
                      {"target": "<script>x</script>", "how": 'sh"ell'}, False, reason="<img src=x onerror=alert(1)>")
    run.outcomes.append(hostile)
    html = to_html(run)
    assert "<script>x</script>" not in html and "<img src=x" not in html and 'sh"ell' not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "external asset referenced"
    dom = Elements(html)
    assert ("target", "<script>x</script>") in dom.chip_text  # the attribute round-trips to the real value
