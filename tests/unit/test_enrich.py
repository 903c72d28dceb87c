"""`stowaway enrich`: recorded events in, the same events with the policy's fields out, exactly as the
detection engine's policy writes them; a bad line is named, not passed on, and fails the exit code."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import orjson

from harness import cli
from harness.enrich import load, main
from harness.replay import load_run

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "tests" / "fixtures" / "runs" / "docker-recorded"


def test_each_event_comes_out_as_the_engines_policy_enriches_it(no_lab) -> None:
    out, err = io.BytesIO(), io.StringIO()
    assert main([RUN / "events.jsonl"], [], str(RUN), out=out, err=err) == 0
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    events = load_run(RUN).events
    assert len(lines) == len(events)
    with tempfile.TemporaryDirectory() as scratch:
        policy, facts = load([], str(RUN), Path(scratch))
        expected = [policy.enrich(dict(e)) for e in events]
    assert lines == json.loads(json.dumps(expected, default=str))
    assert "the platform facts recorded in" in err.getvalue() and facts in err.getvalue()
    assert sum(1 for e in lines if e.get("policy.image.approved") is True) > 0  # signatures verified
    assert any(k.startswith("policy.egress.") for e in lines for k in e)


def test_without_platform_facts_images_are_unsigned_and_it_says_so(no_lab) -> None:
    out, err = io.BytesIO(), io.StringIO()
    assert main([RUN / "events.jsonl"], [], "none", out=out, err=err) == 0
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert not any(e.get("policy.image.approved") is True for e in lines)
    assert "--no-platform" in err.getvalue()


def test_a_line_that_is_no_object_is_named_and_fails_the_exit_code(no_lab, tmp_path) -> None:
    bad = tmp_path / "events.jsonl"
    bad.write_bytes(b'{"event.module": "docker"}\nnot json\n[1]\n\n{"event.module": "x"}\n')
    out, err = io.BytesIO(), io.StringIO()
    assert main([bad], [], "none", out=out, err=err) == 1
    assert len(out.getvalue().splitlines()) == 2
    assert f"{bad}:2: not JSON" in err.getvalue() and f"{bad}:3: a JSON list, not an object" in err.getvalue()
    assert "2 event(s) written, 2 line(s) refused" in err.getvalue()


def test_the_command_refuses_a_missing_file_and_a_run_dir_that_is_none(no_lab, capsys, tmp_path) -> None:
    assert cli.main(["enrich", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["enrich", "--platform", str(tmp_path), str(RUN / "events.jsonl")]) == 2
    assert "run.json" in capsys.readouterr().err
