"""The CLI's side of grading other detectors: --alerts-from, --detector-map, validate."""

from __future__ import annotations

from pathlib import Path

from harness import cli
from tests.unit.test_cli import ADVERSARY, BENIGN, one_error_line, write


def falco_map(tmp_path: Path, scenario: str = ADVERSARY) -> Path:
    return write(tmp_path / "falco.yaml", f"""\
        detector: falco
        format: falco
        expect:
          {scenario}: {{fires: [Disable logging], why: the log driver is none}}
        """)


def test_dry_run_says_which_detector_it_would_grade_and_from_where(no_lab, capsys, tmp_path):
    mapping = falco_map(tmp_path)
    assert cli.main(["run", ADVERSARY, "--dry-run", "--alerts-from", f"falco=file:{tmp_path}/falco.jsonl",
                     "--detector-map", str(mapping)]) == 0
    out = capsys.readouterr().out
    assert f"would grade falco (falco) on alerts from file:{tmp_path}/falco.jsonl, judged by {mapping}" in out


def test_run_hands_the_sources_to_the_runner_and_prints_each_detectors_figures(fake_run, capsys, tmp_path):
    alerts = tmp_path / "falco.jsonl"
    alerts.write_text("")
    assert cli.main(["run", ADVERSARY, BENIGN, "--out", str(tmp_path / "out"), "--alerts-from",
                     f"falco=file:{alerts}", "--detector-map", str(falco_map(tmp_path))]) == 0
    (source, mapping), = fake_run[0]["options"].external
    assert source.where == f"file:{alerts}" and mapping.detector == "falco"


def test_a_spec_without_a_mapping_or_format_name_is_bad_input(no_lab, capsys, tmp_path):
    assert cli.main(["run", ADVERSARY, "--alerts-from", "siem=file:/x"]) == 2
    assert "no mapping file names detector 'siem'" in one_error_line(capsys)


def test_a_mapping_naming_an_unknown_scenario_is_bad_input_naming_the_field(no_lab, capsys, tmp_path):
    mapping = falco_map(tmp_path, "docker.nothing.here")
    assert cli.main(["run", ADVERSARY, "--alerts-from", "falco=file:/x", "--detector-map", str(mapping)]) == 2
    assert f"{mapping}: expect.docker.nothing.here: names no known scenario" in one_error_line(capsys)


def test_a_mapping_without_a_source_would_judge_nothing(no_lab, capsys, tmp_path):
    assert cli.main(["run", ADVERSARY, "--detector-map", str(falco_map(tmp_path))]) == 2
    assert "--detector-map" in one_error_line(capsys)


def test_two_sources_for_one_detector_are_bad_input(no_lab, capsys, tmp_path):
    assert cli.main(["run", ADVERSARY, "--alerts-from", "falco=file:/a", "--alerts-from", "falco=file:/b"]) == 2
    assert "one source per detector" in one_error_line(capsys)


def test_validate_checks_the_shipped_and_given_mapping_files(no_lab, capsys, tmp_path):
    assert cli.main(["validate", "--detector-map", str(falco_map(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "detector mappings:" in out and "falco" in out
    broken = write(tmp_path / "broken.yaml", "detector: x\nformat: splunk\n")
    assert cli.main(["validate", "--detector-map", str(broken)]) == 2
    assert f"{broken}: format: 'splunk' is not one of" in one_error_line(capsys)
