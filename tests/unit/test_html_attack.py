"""The HTML report names ATT&CK techniques and tactics, groups scenario rows by tactic, and fits a
laptop screen (1366 px) without sideways scrolling (that one rendered in headless Chromium)."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from scorecard_fixtures import judged_run, make_run
from test_html_robustness import family
from test_scorecard_html_chromium import CHROMIUM, CHROMIUM_FLAGS, TIMEOUT_S

from harness.outcome import Outcome, RunResult, Verdict
from harness.scorecard.html import to_html
from harness.tactics import tactic_map

SOCKET = "docker.escape.docker-socket-mount"  # T1611 Escape to Host, T1610 Deploy Container


class Rows(HTMLParser):
    """Scenario rows and tactic groups in document order, and the text of each row's ATT&CK cell."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.groups: list[str] = []
        self.rows: list[dict[str, str]] = []
        self.technique_rows: list[dict[str, str]] = []
        self.attack_text: dict[str, str] = {}
        self._row: str | None = None
        self._cell = 0
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        classes = found.get("class", "").split()
        if tag == "tbody" and "tactic-group" in classes:
            self.groups.append(found["data-tactic"])
        elif tag == "tr" and "scenario" in classes:
            self.rows.append(found)
            self._row, self._cell = found["data-scenario"], 0
            self.attack_text[self._row] = ""
        elif tag == "tr" and "technique-row" in classes:
            self.technique_rows.append(found)
        elif tag == "td" and self._row is not None:
            self._cell += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cell == 3:  # scenario, kind, ATT&CK
            self.attack_text[self._row] += data


def test_a_row_names_its_techniques_and_tactics() -> None:
    page = Rows(to_html(make_run()))
    text = page.attack_text[SOCKET]
    assert "T1611" in text and "Escape to Host" in text
    assert "T1610" in text and "Deploy Container" in text
    assert "Privilege Escalation" in text and "Execution" in text and "Defense Evasion" in text
    masquerade = page.attack_text["docker.masquerade.nginx-from-tmp"]
    assert "Masquerading: Match Legitimate Resource Name or Location" in masquerade


def test_the_technique_key_names_each_technique_of_the_heatmap() -> None:
    html = to_html(make_run())
    rows = {r["data-technique"]: r["data-tactics"] for r in Rows(html).technique_rows}
    assert rows == {"T1036.005": "defense-evasion", "T1496": "impact", "T1562.001": "defense-evasion",
                    "T1610": "execution,defense-evasion", "T1611": "privilege-escalation"}
    assert "Resource Hijacking" in html and "Impair Defenses: Disable or Modify Tools" in html


def test_rows_are_grouped_by_tactic_in_the_matrix_order() -> None:
    page = Rows(to_html(judged_run()))
    tactics = tactic_map()
    sequence = [r["data-tactic"] for r in page.rows]
    # Each tactic is one contiguous run of rows, one group each, in the Enterprise matrix's order.
    runs = [t for i, t in enumerate(sequence) if i == 0 or sequence[i - 1] != t]
    assert runs == page.groups == sorted(set(sequence), key=lambda s: tactics.order(tactics.tactic(s)))
    assert page.groups == ["execution", "privilege-escalation", "defense-evasion", "impact"]
    for outcome in judged_run().outcomes:  # each row under the first tactic of its first technique
        row = next(r for r in page.rows if r["data-scenario"] == outcome.scenario_id)
        primary = tactics.primary(outcome.techniques)
        assert primary is not None and row["data-tactic"] == primary.short_name
    assert next(r for r in page.rows if r["data-scenario"] == SOCKET)["data-tactic"] == "privilege-escalation"


def test_inside_a_group_the_detectors_mistakes_come_first() -> None:
    rows = [r for r in Rows(to_html(make_run())).rows if r["data-tactic"] == "defense-evasion"]
    assert rows[0]["data-verdict"] == "missed"
    assert [r["data-passed"] for r in rows] == sorted((r["data-passed"] for r in rows), key=lambda p: p == "true")


def test_a_technique_outside_the_catalogue_is_grouped_last() -> None:
    run = make_run()
    run.outcomes[0].techniques = ["T9999"]
    page = Rows(to_html(run))
    assert page.groups[-1] == "none"
    assert page.attack_text[run.outcomes[0].scenario_id].startswith("T9999")


def test_sorting_keeps_each_row_inside_its_group() -> None:
    html = to_html(make_run())
    assert "table.sortable thead th" in html and "classList.contains('group')" in html


# --- rendered at 1366 px ------------------------------------------------------------------------

# Measured in the page itself, every <details> opened first: the whole page's width against the
# window's, and the elements (outside SVG) that reach past the right edge.
PROBE = """<script>
document.querySelectorAll('details').forEach(function (d) { d.open = true; });
var root = document.documentElement, wide = [];
document.querySelectorAll('body *:not(svg *)').forEach(function (e) {
  if (e.getBoundingClientRect().right > root.clientWidth + 1) { wide.push(e.tagName + '.' + e.className); }
});
document.body.setAttribute('data-scroll-width', root.scrollWidth);
document.body.setAttribute('data-client-width', root.clientWidth);
document.body.setAttribute('data-too-wide', wide.slice(0, 8).join(' '));
</script></body>"""


def _wide_run() -> RunResult:
    """Long unbroken ids and reasons, and more sensors than the heatmap's known ones."""
    run = judged_run()
    sources = [f"sensor-with-a-long-name-{i:02d}" for i in range(14)]
    for outcome in run.outcomes:
        outcome.data_sources = sources
    run.outcomes[0].reason = "image " + "sha256:" + "0123456789abcdef" * 8 + " was not approved"
    run.outcomes.append(Outcome(
        scenario_id="docker.a." + "very-long-scenario-id-without-spaces_" * 6, title="x" * 150, kind="adversary",
        techniques=["T1610", "T1611", "T1036.005", "T1562.001", "T1496"], backend="docker",
        verdict=Verdict.ERROR, reason="/var/lib/docker/overlay2/" + "a" * 240 + "/merged: not found"))
    return run


WIDE_RUNS = {"fixture with soak": judged_run, "variants": lambda: RunResult(
    run_id="r", attack_version="18", backend="docker", started_at=0.0, finished_at=1.0, outcomes=family(),
    environment={"variants": {"requested": 3, "seed": 1}}), "long ids and many sensors": _wide_run}


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
@pytest.mark.parametrize("build", list(WIDE_RUNS.values()), ids=list(WIDE_RUNS))
def test_the_report_fits_1366_pixels_without_scrolling_sideways(tmp_path: Path, build) -> None:
    page = tmp_path / "report.html"
    page.write_text(to_html(build()).replace("</body>", PROBE), encoding="utf-8")
    profile = tmp_path / "profile"
    profile.mkdir()
    done = subprocess.run([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1366,900",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body[^>]*>", done.stdout)
    assert body is not None, done.stdout[:500]
    measured = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group()))
    assert 1300 <= int(measured["client-width"]) <= 1366  # the window really was a laptop's
    assert int(measured["scroll-width"]) <= int(measured["client-width"]), measured["too-wide"]
