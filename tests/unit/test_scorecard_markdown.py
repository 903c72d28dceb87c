"""The Markdown scorecard for CI job summaries and PR comments."""

from __future__ import annotations

from scorecard_fixtures import (
    FALSE_POSITIVE_ID,
    FALSE_POSITIVE_RULE,
    MISSED_ID,
    SKIPPED_ID,
    clean_run,
    make_run,
)

from harness.scorecard.markdown import cell, to_markdown


def _table_rows(text: str, header_start: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_first_content_line_is_the_verdict_with_counts() -> None:
    text = to_markdown(make_run())
    verdict_line = next(line for line in text.splitlines() if line and not line.startswith("#"))
    assert verdict_line.startswith("**FAIL**")
    assert "5 detected, 1 missed, 3 silent, 1 false positive, 0 error, 1 skipped" in verdict_line
    assert "ATT&CK v18" in verdict_line


def test_passing_run_says_pass() -> None:
    text = to_markdown(clean_run())
    assert "**PASS**" in text and "**FAIL**" not in text
    assert "None: every benign twin stayed silent." in text


def test_scenario_table_has_one_row_per_scenario_failures_first() -> None:
    run = make_run()
    rows = _table_rows(to_markdown(run), "| scenario |")
    assert len(rows) == len(run.outcomes)
    assert MISSED_ID in rows[0] and "[FAIL] missed" in rows[0]
    assert FALSE_POSITIVE_ID in rows[1] and "[FAIL] false positive" in rows[1]
    skipped = next(r for r in rows if SKIPPED_ID in r)
    assert "[skip] skipped" in skipped and "rootless" in skipped
    assert all(r.count("|") - r.count("\\|") == 7 for r in rows)  # six cells, no pipe leaked from a reason


def test_coverage_table_and_false_positives_by_rule() -> None:
    text = to_markdown(make_run())
    rows = _table_rows(text, "| technique |")
    assert [r.split("|")[1].strip() for r in rows] == ["T1036.005", "T1496", "T1562.001", "T1610", "T1611"]
    assert "| T1036.005 | 50% | 1/2 |" in text
    assert f"- `{FALSE_POSITIVE_RULE}` fired on `{FALSE_POSITIVE_ID}`" in text
    assert "MITRE ATT&CK v18" in text


def test_no_emoji_markers() -> None:
    assert all(ord(ch) < 0x2000 for ch in to_markdown(make_run()))


def test_cell_escapes_pipes_and_newlines() -> None:
    assert cell("a | b\nc") == "a \\| b c"


def test_reason_with_pipe_does_not_break_the_table() -> None:
    run = make_run()
    run.outcomes[0].reason = "grep | wc said 0\nsecond line"
    rows = _table_rows(to_markdown(run), "| scenario |")
    assert len(rows) == len(run.outcomes)
    assert any("grep \\| wc said 0 second line" in r for r in rows)
