"""Scorecards: one run rendered for machines (JSON, JUnit, Navigator, SARIF) and for people (Markdown, HTML)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.outcome import RunResult
from harness.scorecard.figures import has_variants
from harness.scorecard.html import to_html, write_html
from harness.scorecard.json_report import ScorecardFormatError, from_json, load_json, to_json, write_json
from harness.scorecard.junit import to_junit_xml, write_junit
from harness.scorecard.markdown import to_markdown
from harness.scorecard.navigator import to_layer, write_layer
from harness.scorecard.sarif import to_sarif, write_sarif

__all__ = [
    "ScorecardFormatError",
    "from_json",
    "load_json",
    "to_html",
    "to_json",
    "to_junit_xml",
    "to_layer",
    "to_markdown",
    "to_sarif",
    "write_all",
    "write_json",
]

# Written for every run.
FILENAMES = {
    "json": "scorecard.json",
    "markdown": "scorecard.md",
    "navigator": "navigator-layer.json",
    "junit": "junit.xml",
    "html": "report.html",
    "sarif": "scorecard.sarif",
}
# Written only for a run with variant rows (``--variants``): kept apart so that FILENAMES stays
# exactly what every run leaves in its directory.
VARIANT_FILENAMES = {
    "navigator-robustness": "navigator-layer-robustness.json",
}


def write_all(run: RunResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write every format into ``out_dir``; returns format name -> path (keys as in FILENAMES, plus
    those of VARIANT_FILENAMES when the run has variant rows)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    markdown_path = out / FILENAMES["markdown"]
    markdown_path.write_text(to_markdown(run), encoding="utf-8")
    written = {
        "json": write_json(run, out / FILENAMES["json"]),
        "markdown": markdown_path,
        "navigator": write_layer(run, out / FILENAMES["navigator"]),
        "junit": write_junit(run, out / FILENAMES["junit"]),
        "html": write_html(run, out / FILENAMES["html"]),
        "sarif": write_sarif(run, out / FILENAMES["sarif"]),
    }
    robustness = out / VARIANT_FILENAMES["navigator-robustness"]
    if has_variants(run):
        written["navigator-robustness"] = write_layer(run, robustness, score="robustness")
    else:
        # A layer left by an earlier run with variants would sit beside this run's reports as if it were its own.
        robustness.unlink(missing_ok=True)
    return written
