"""README is the front door (at most 10 KB) and docs/ holds the rest: every generated block must match
its source, README's two commands must be the ones CI and nox really run, and every relative link
resolves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.bench.report import Figure, Report, figures_markdown
from harness.readme import (
    BASELINE,
    BENCHMARKS_DOC,
    README,
    SCENARIOS_DOC,
    Block,
    blocks,
    measured_figures,
    render,
    render_docs,
    run_summary,
)
from scenarios.registry import load

ROOT = Path(__file__).parents[2]


def test_every_generated_block_matches_its_source():
    stale = [str(doc.relative_to(ROOT)) for doc, text in render_docs(blocks(load())).items()
             if text != doc.read_text()]
    assert not stale, f"generated blocks are stale in {stale}: run `python -m harness.readme`"


def test_every_scenario_is_in_the_catalogue():
    text = SCENARIOS_DOC.read_text()
    missing = [s.id for s in load().all() if f"`{s.id}`" not in text]
    assert not missing


def test_readme_commands_are_the_real_ones():
    text = README.read_text()
    assert "nox -s purple-team" in text and "nox -s tests" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "nox -s tests" in ci
    noxfile = (ROOT / "noxfile.py").read_text()
    assert 'name="purple-team"' in noxfile and "def tests(" in noxfile


def test_the_run_summary_says_what_the_baseline_scorecard_says():
    scorecard = json.loads(BASELINE.read_text())
    text = run_summary(scorecard)
    assert text in README.read_text()
    assert f"{scorecard['summary']['verdicts']['detected']} detected" in text


def test_a_block_is_rewritten_between_its_markers_and_a_missing_one_is_refused(tmp_path):
    doc = tmp_path / "doc.md"
    block = Block("demo", doc, "a test", lambda: "fresh\n")
    doc.write_text(f"head\n{block.begin}\nstale\n{block.end}\ntail\n")
    assert render(doc.read_text(), block) == f"head\n{block.begin}\nfresh\n{block.end}\ntail\n"
    with pytest.raises(ValueError, match="demo"):
        render("head\ntail\n", block)


def test_measured_figures_come_from_the_report_or_say_how_to_make_it(tmp_path):
    report = Report("bench", started_at=0.0)
    report.add([Figure("latency.docker-events.p95", "detection latency p95", 0.31, 1.0, unit="s"),
                Figure("replay.ratio", "replay / parse", 0.165, 0.75, ">=", "x")])
    report.notes.append("two shared cores")
    json_path, _md = report.write(tmp_path)
    text = measured_figures(json_path, "bench")
    assert text.startswith(f"From `{json_path}`: `nox -s bench` started 1970-01-01 00:00 UTC on ")
    assert "| `latency.docker-events.p95` | detection latency p95 | 0.31 s | <= 1 s | pass |  |" in text
    assert "| `replay.ratio` |" in text and "| miss |" in text and "- two shared cores" in text
    assert figures_markdown(json.loads(json_path.read_text())) in text

    missing = measured_figures(tmp_path / "drills.json", "drills")
    assert "nox -s drills" in missing and "|" not in missing


def test_benchmark_tables_are_generated_from_the_committed_reports():
    text = BENCHMARKS_DOC.read_text()
    for block in blocks(load()):
        if block.name in ("bench", "drills"):
            assert block.doc == BENCHMARKS_DOC and f"{block.begin}\n{block.body()}{block.end}" in text


README_LIMIT = 10 * 1024
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_readme_stays_a_front_door():
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail under docs/ (limit {README_LIMIT})"


def _prose(text: str) -> str:
    """Markdown without code blocks and code spans, where a link is not a link."""
    return re.sub(r"`[^`\n]*`", "", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))


def _anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    out = set()
    for line in _prose(doc.read_text().replace("`", "")).splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return out


def test_every_relative_link_in_the_docs_resolves():
    docs = [README, *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for doc in docs:
        for target in LINK.findall(_prose(doc.read_text())):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (doc.parent / path).resolve() if path else doc
            if not resolved.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken
