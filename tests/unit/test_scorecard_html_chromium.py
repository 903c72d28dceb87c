"""The HTML report: self-contained, and rendered for real in headless Chromium.

The static checks run everywhere; the rendering checks need Debian's /usr/bin/chromium and skip
with a reason without it. Chromium is bounded by a timeout and kept off the network by flags.
"""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from scorecard_fixtures import (
    ALLOWED_ID,
    ALLOWED_REASON,
    ALLOWED_RULE,
    FALSE_POSITIVE_RULE,
    SKIPPED_ID,
    SOAK_RULES,
    UNLISTED_ID,
    UNLISTED_RULE,
    clean_run,
    judged_run,
    make_run,
)

from harness.outcome import Verdict
from harness.scorecard.html import to_html, write_html

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 90

# The fixture: 5 techniques x 5 sensors that saw something; 6 rules fired on adversary scenarios.
EXPECTED_CELLS = 25
EXPECTED_BARS = 6

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
]


class ElementCollector(HTMLParser):
    """Collects the start tags of interest, with attributes, from a DOM dump."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def with_class(self, name: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.elements if name in (a.get("class") or "").split()]

    def by_id(self, element_id: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.elements if a.get("id") == element_id]


def collect(markup: str) -> ElementCollector:
    parser = ElementCollector()
    parser.feed(markup)
    return parser


def png_pixel_bytes(path: Path) -> bytes:
    """Decompressed image data of a PNG (filter bytes included): enough to tell blank from drawn."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


# --- static: no browser needed ----------------------------------------------------------------


def test_report_is_self_contained() -> None:
    html = to_html(make_run())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "external asset referenced"
    assert "@import" not in html and "<link" not in html
    assert "MITRE ATT&amp;CK v18" in html


def test_static_markup_has_expected_chart_elements() -> None:
    dom = collect(to_html(make_run()))
    assert len(dom.with_class("cell")) == EXPECTED_CELLS
    assert len(dom.with_class("bar")) == EXPECTED_BARS
    assert dom.by_id("verdict")[0]["data-passed"] == "false"


def test_passing_run_header_and_no_false_positives() -> None:
    dom = collect(to_html(clean_run()))
    assert dom.by_id("verdict")[0]["class"] == "pass"
    assert dom.by_id("no-false-positives")


def test_precision_table_rows_worst_first() -> None:
    dom = collect(to_html(judged_run()))
    rows = dom.with_class("precision-row")
    assert rows[0]["data-rule"] == UNLISTED_RULE and rows[0]["data-precision"] == "0.0"
    precision = {r["data-rule"]: float(r["data-precision"] or -1) for r in rows}
    assert precision[ALLOWED_RULE] == 0.5 and precision[FALSE_POSITIVE_RULE] == 0.5
    assert precision["stowaway.resources.cpu-spike"] == 1.0
    values = [precision[r["data-rule"]] for r in rows]
    assert values == sorted(values)


def test_collateral_and_every_kind_of_false_positive_are_shown() -> None:
    html = to_html(judged_run())
    dom = collect(html)
    collateral = {(r["data-scenario"], r["data-rule"]): r["data-allowed"] for r in dom.with_class("collateral-row")}
    assert collateral == {(ALLOWED_ID, ALLOWED_RULE): "true", (UNLISTED_ID, UNLISTED_RULE): "false"}
    assert ALLOWED_REASON in html
    where = sorted((r["data-rule"], r["data-where"]) for r in dom.with_class("fp-row"))
    assert where == sorted([(FALSE_POSITIVE_RULE, "benign twin"), (UNLISTED_RULE, "unlisted collateral"),
                            (SOAK_RULES[0], "soak"), (SOAK_RULES[1], "soak")])
    rows = {r["data-scenario"]: r for r in dom.with_class("scenario")}
    assert (rows[UNLISTED_ID]["data-verdict"], rows[UNLISTED_ID]["data-passed"]) == ("detected", "false")
    assert (rows[ALLOWED_ID]["data-verdict"], rows[ALLOWED_ID]["data-passed"]) == ("detected", "true")


def test_skipped_section_gives_the_reason() -> None:
    html = to_html(make_run())
    skipped = html.split('id="skipped"', 1)[1].split("</ul>", 1)[0]
    assert SKIPPED_ID in skipped and "rootless dockerd" in skipped
    assert 'id="skipped"' not in to_html(clean_run())


def test_soak_section_services_checks_and_alerts() -> None:
    html = to_html(judged_run())
    dom = collect(html)
    assert dom.by_id("soak")[0]["data-passed"] == "false"
    assert [r["data-service"] for r in dom.with_class("service-row")] == ["web", "ledger-db"]
    assert "412 requests answered 200" in html
    assert [r["data-rule"] for r in dom.with_class("soak-alert")] == list(SOAK_RULES)
    assert 'id="soak"' not in to_html(make_run())  # no soak ran


def test_only_skips_give_an_incomplete_header() -> None:
    run = clean_run()
    run.outcomes[0].verdict = Verdict.SKIPPED
    header = collect(to_html(run)).by_id("verdict")[0]
    assert header["class"] == "incomplete" and header["data-passed"] == "false"


def test_reason_text_is_escaped() -> None:
    run = make_run()
    run.outcomes[0].reason = "<script>alert(1)</script>"
    assert "<script>alert(1)</script>" not in to_html(run)


# --- rendered in Chromium --------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=tmp_path,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    tmp = tmp_path_factory.mktemp("html")
    report = write_html(make_run(), tmp / "report.html")
    dump = run_chromium(tmp, "--dump-dom", report.as_uri())
    assert dump.returncode == 0, dump.stderr[-2000:]
    shot = tmp / "shot.png"
    screenshot = run_chromium(tmp, f"--screenshot={shot}", "--window-size=1400,1800", report.as_uri())
    assert screenshot.returncode == 0, screenshot.stderr[-2000:]
    return dump.stdout, shot


@needs_chromium
def test_rendered_dom_has_heatmap_cells(rendered: tuple[str, Path]) -> None:
    dom = collect(rendered[0])
    assert len(dom.by_id("heatmap")) == 1
    cells = dom.with_class("cell")
    assert len(cells) == EXPECTED_CELLS
    states = {(c["data-technique"], c["data-source"]): c["data-state"] for c in cells}
    assert states[("T1036.005", "tracefs-exec")] == "partial"
    assert states[("T1562.001", "docker-events")] == "detected"
    assert states[("T1496", "docker-events")] == "no-telemetry"
    fp_cells = [c for c in cells if c["data-false-positive"] == "true"]
    assert [(c["data-technique"], c["data-source"]) for c in fp_cells] == [("T1610", "docker-events")]


@needs_chromium
def test_rendered_dom_has_latency_bars(rendered: tuple[str, Path]) -> None:
    dom = collect(rendered[0])
    assert len(dom.by_id("latency-chart")) == 1
    bars = {b["data-rule"]: float(b["data-latency"] or 0) for b in dom.with_class("bar")}
    assert len(bars) == EXPECTED_BARS
    assert bars["stowaway.resources.cpu-spike"] == pytest.approx(14.8)
    assert FALSE_POSITIVE_RULE in bars  # from its adversary detection, not from the false positive


@needs_chromium
def test_rendered_dom_keeps_tables(rendered: tuple[str, Path]) -> None:
    dom = collect(rendered[0])
    assert len(dom.with_class("scenario")) == len(make_run().outcomes)
    assert [r["data-rule"] for r in dom.with_class("fp-row")] == [FALSE_POSITIVE_RULE]


@needs_chromium
def test_screenshot_is_not_blank(rendered: tuple[str, Path]) -> None:
    shot = rendered[1]
    assert shot.exists(), "Chromium wrote no screenshot"
    # A blank 1400x1800 page compresses to a few KB of one colour; the report has text and colour.
    assert shot.stat().st_size > 30_000
    assert len(set(png_pixel_bytes(shot))) > 64
