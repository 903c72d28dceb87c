"""The Markdown scorecard for CI job summaries and PR comments."""

from __future__ import annotations

from scorecard_fixtures import (
    ALLOWED_ID,
    ALLOWED_REASON,
    ALLOWED_RULE,
    FALSE_POSITIVE_ID,
    FALSE_POSITIVE_RULE,
    MISSED_ID,
    SKIPPED_ID,
    UNLISTED_ID,
    UNLISTED_RULE,
    clean_run,
    judged_run,
    make_run,
)

from harness.outcome import Verdict
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
    assert "None: every benign twin stayed silent, no adversary drew unlisted collateral, no soak alert." in text


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


def _section(text: str, title: str) -> str:
    return text.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0].strip()


def test_unlisted_collateral_fails_the_row_and_is_listed() -> None:
    text = to_markdown(judged_run())
    rows = _table_rows(text, "| scenario |")
    row = next(r for r in rows if UNLISTED_ID in r)
    assert "[FAIL] detected, unlisted collateral" in row
    assert rows.index(row) < next(i for i, r in enumerate(rows) if "[ok]" in r)  # with the failures
    collateral = _section(text, "Collateral")
    assert f"`{UNLISTED_RULE}`" in collateral and "unlisted: a false positive" in collateral
    assert f"`{ALLOWED_RULE}`" in collateral and ALLOWED_REASON in collateral and ALLOWED_ID in collateral
    assert f"- `{UNLISTED_RULE}` unlisted collateral on `{UNLISTED_ID}`" in _section(text, "False positives")
    assert "1 unlisted collateral" in text.splitlines()[2]


def test_precision_table_worst_first() -> None:
    text = to_markdown(judged_run())
    rows = _table_rows(text, "| rule | precision |")
    assert rows[0].startswith(f"| `{UNLISTED_RULE}` | 0% | 0 (0 + 0) | 1 (0 + 0 + 1) | `{UNLISTED_ID}` |")
    allowed = next(r for r in rows if ALLOWED_RULE in r)
    assert "| 50% | 1 (0 + 1) | 1 (0 + 1 + 0) | `soak` |" in allowed
    assert rows[-1].endswith("| 100% | 1 (1 + 0) | 0 (0 + 0 + 0) | - |")


def test_skipped_section_says_why_each_skipped() -> None:
    text = to_markdown(make_run())
    skipped = _section(text, "Skipped")
    assert f"- `{SKIPPED_ID}` (docker): the engine refuses --pid=host here (rootless dockerd)" in skipped
    assert "### Skipped" not in to_markdown(clean_run())


def test_only_skips_make_the_run_incomplete_not_passed() -> None:
    run = clean_run()
    run.outcomes[0].verdict = Verdict.SKIPPED
    assert to_markdown(run).splitlines()[2].startswith("**INCOMPLETE**")


def test_soak_section_lists_services_checks_and_every_alert() -> None:
    text = to_markdown(judged_run())
    soak = _section(text, "Soak")
    assert soak.startswith("**[FAIL] 2 false positive(s)**") and "10 minutes" in soak
    assert "| `web` | nginx serving the shop's pages" in soak and "412 requests answered 200" in soak
    assert soak.count("**[FAIL] false positive**") == 2
    assert "soak 2 false positive(s)" in text.splitlines()[2]
    assert "### Soak" not in to_markdown(make_run())  # no soak ran


def test_sensors_that_did_not_run_are_named_with_their_reason() -> None:
    run = make_run()
    run.environment["sensors"] = [
        {"name": "docker-events", "state": "running", "reason": "", "stats": {"emitted": 10}},
        {"name": "tracefs-exec", "state": "unavailable", "reason": "no /sys/kernel/tracing", "stats": {}},
        {"name": "packets", "state": "failed", "reason": "did not start: OSError: no libpcap", "stats": {}},
    ]
    text = to_markdown(run)
    assert "### Sensors" in text and "1 of 3 running: `docker-events`." in text
    assert "**unavailable** `tracefs-exec`: no /sys/kernel/tracing" in text
    assert "**failed** `packets`: did not start: OSError: no libpcap" in text
