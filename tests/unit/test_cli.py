"""The `stowaway` command: argument handling, exit codes, and bad input refused before anything starts."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from harness import cli
from harness.outcome import Outcome, Verdict
from harness.scorecard import FILENAMES, write_json
from tests.unit.scorecard_fixtures import clean_run, make_run

RULE_DIR = Path(__file__).resolve().parents[2] / "detectors" / "rules"
LOGGING_RULE = "stowaway.docker.logging-disabled"
ADVERSARY = "docker.logging.log-driver-none"
BENIGN = "docker.logging.dev-minimal-logging"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def user_scenario(root: Path, body: str) -> Path:
    """A user scenario file under ROOT/custom/thing.py (id custom.thing); BODY sets title and expect."""
    head = (
        "from lab import Lab\n"
        "from scenarios.api import Expectation, Kind, Scenario\n\n\n"
        "class Thing(Scenario):\n"
        "    id = 'custom.thing'\n"
        "    kind = Kind.ADVERSARY\n"
        "    techniques = ('T1610',)\n"
        "    description = 'Starts a container.'\n"
    )
    tail = "\n    def detonate(self, lab: Lab) -> None:\n        lab.action('nothing')\n"
    path = root / "custom" / "thing.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + textwrap.indent(textwrap.dedent(body), "    ") + tail)
    return path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


# --- list / explain ------------------------------------------------------------------------------


def test_list_shows_ids_techniques_kind_and_twin(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith(ADVERSARY))
    assert "adversary" in line and "T1562.001" in line and "T1610" in line and BENIGN in line
    assert "v18" in out


def test_list_json_is_machine_readable(capsys):
    assert cli.main(["list", "--json"]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[BENIGN]["kind"] == "benign" and rows[BENIGN]["twin"] == ADVERSARY
    assert rows[ADVERSARY]["backends"] == ["docker"]


def test_explain_names_the_rule_its_metadata_and_the_twin(capsys):
    assert cli.main(["explain", ADVERSARY]) == 0
    out = capsys.readouterr().out
    assert "Impair Defenses: Disable or Modify Tools" in out
    assert LOGGING_RULE in out and "[high, sigma]" in out and "Container started with its logging disabled" in out
    assert "False positives:" in out and "Response:" in out
    assert f"Twin: {BENIGN}" in out and "Must fire within 15s" in out
    from scenarios.registry import load

    allowed = load().get(ADVERSARY).expect.may_fire
    assert allowed and "May also fire (allowed collateral" in out
    for rule_id in allowed:
        assert f"  {rule_id}\n" in out
    assert "unlisted collateral" in out


def test_explain_benign_says_what_must_stay_silent(capsys):
    assert cli.main(["explain", BENIGN]) == 0
    out = capsys.readouterr().out
    assert "Must stay silent for 8s" in out and LOGGING_RULE in out


def test_explain_unknown_id_is_bad_input(capsys):
    assert cli.main(["explain", "docker.nope"]) == 2
    assert "docker.nope" in one_error_line(capsys)


# --- run: bad input, nothing started --------------------------------------------------------------


def test_run_unknown_id_exits_2_and_starts_nothing(no_lab, capsys, tmp_path):
    assert cli.main(["run", "docker.logging.nope", "--out", str(tmp_path / "r")]) == 2
    assert "docker.logging.nope" in one_error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_run_selection_matching_nothing_is_bad_input(no_lab, capsys):
    assert cli.main(["run", "--technique", "T1001"]) == 2
    assert "--technique T1001" in one_error_line(capsys)


@pytest.mark.parametrize("command", [["run"], ["validate"]])
def test_a_broken_scenario_names_file_and_field(no_lab, capsys, tmp_path, command):
    """`run` refuses it before anything starts; `validate` says the same without running anything."""
    path = user_scenario(tmp_path, """\
        title = ""
        expect = Expectation(fires=("stowaway.docker.logging-disabled",))
    """)
    assert cli.main([*command, "--scenarios", str(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and "title" in line


@pytest.mark.parametrize("command", [["run", "custom.thing"], ["validate"]])
def test_an_expectation_naming_a_rule_that_exists_nowhere_is_bad_input(no_lab, capsys, tmp_path, command):
    path = user_scenario(tmp_path, """\
        title = "Thing"
        expect = Expectation(fires=("stowaway.docker.no-such-rule",))
    """)
    assert cli.main([*command, "--scenarios", str(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and "expect.fires" in line and "no-such-rule" in line


def test_run_may_fire_naming_an_unknown_rule_is_bad_input(no_lab, capsys, tmp_path):
    path = user_scenario(tmp_path, """\
        title = "Thing"
        expect = Expectation(fires=("stowaway.docker.logging-disabled",),
                             may_fire={"stowaway.docker.no-such-rule": "its payload really does that."})
    """)
    assert cli.main(["run", "custom.thing", "--scenarios", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and "expect.may_fire" in line and "no-such-rule" in line
    assert not (tmp_path / "r").exists()


def test_run_may_fire_on_a_benign_scenario_is_bad_input(no_lab, capsys, tmp_path):
    path = user_scenario(tmp_path, """\
        title = "Thing"
        kind = Kind.BENIGN
        expect = Expectation(silent=("stowaway.docker.logging-disabled",),
                             may_fire={"stowaway.docker.unapproved-image": "it is not approved."})
    """)
    assert cli.main(["run", "custom.thing", "--scenarios", str(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and "expect.may_fire" in line and "benign" in line


def test_check_expectations_refuses_a_class_handed_over_directly():
    """run() is also called with classes that never went through the registry (tests, plugins)."""
    from harness.runner import check_expectations
    from scenarios.api import Expectation, Kind, Scenario
    from scenarios.registry import ScenarioError

    class Direct(Scenario):
        id = "custom.direct"
        kind = Kind.ADVERSARY
        expect = Expectation(fires=("r",), may_fire={"r": "it is expected and allowed at once."})

    with pytest.raises(ScenarioError) as info:
        check_expectations([Direct], {"r"})
    assert info.value.field == "expect.may_fire['r']" and __file__ in str(info.value)

    class Unknown(Direct):
        expect = Expectation(fires=("r",), may_fire={"ghost": "it names a rule nobody wrote."})

    with pytest.raises(ScenarioError) as info:
        check_expectations([Unknown], {"r"})
    assert info.value.field == "expect.may_fire" and "ghost" in str(info.value)


def test_run_broken_rule_names_file_and_field(no_lab, capsys, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULE_DIR, rules)
    broken = rules / "docker_logging_disabled.yml"
    broken.write_text(broken.read_text().replace("level: high", "level: severe"))
    assert cli.main(["run", ADVERSARY, "--rules", str(rules)]) == 2
    line = one_error_line(capsys)
    assert str(broken) in line and "level" in line


def test_run_missing_rule_dir_is_bad_input(no_lab, capsys, tmp_path):
    assert cli.main(["run", ADVERSARY, "--rules", str(tmp_path / "absent")]) == 2
    assert str(tmp_path / "absent") in one_error_line(capsys)


def _policy_with_an_unknown_key(tmp_path):
    """A logging policy whose match names a key no schema has (``colour``)."""
    return write(tmp_path / "policy" / "logging.yaml", """\
        kind: logging
        sanctioned_minimal_logging:
          - name: dev
            description: dev
            owner: platform-team
            match: {networks: ["*-dev"], colour: [blue]}
    """)


def test_run_broken_policy_names_file_and_field(no_lab, capsys, tmp_path):
    policy = _policy_with_an_unknown_key(tmp_path)
    assert cli.main(["run", ADVERSARY, "--policy", str(policy.parent)]) == 2
    line = one_error_line(capsys)
    assert str(policy) in line and "colour" in line


def test_run_missing_policy_dir_is_bad_input(no_lab, capsys, tmp_path):
    assert cli.main(["run", ADVERSARY, "--policy", str(tmp_path / "absent")]) == 2
    assert "absent" in one_error_line(capsys)


def test_run_parallel_must_be_positive(no_lab, capsys):
    assert cli.main(["run", "--parallel", "0"]) == 2
    assert "--parallel" in one_error_line(capsys)


def test_run_unknown_backend_is_an_argparse_error(no_lab, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "--backend", "podman"])
    assert exc.value.code == 2


# --- run: pass / fail, options reach the runner, every format written ------------------------------


def test_run_pass_writes_every_format_and_exits_0(fake_run, capsys, tmp_path):
    out = tmp_path / "reports"
    assert cli.main(["run", ADVERSARY, BENIGN, "--out", str(out), "--parallel", "2", "--quiet"]) == 0
    assert {p.name for p in out.iterdir()} == set(FILENAMES.values())
    scorecard = json.loads((out / "scorecard.json").read_text())
    assert scorecard["run_id"] == "run-fake" and len(scorecard["outcomes"]) == 2
    assert fake_run[0]["ids"] == [ADVERSARY, BENIGN]
    options = fake_run[0]["options"]
    assert options.parallel == 2 and options.backend == "docker"
    assert "PASS" in capsys.readouterr().out


def test_run_by_tag_and_technique_selects(fake_run, tmp_path):
    assert cli.main(["run", "--tag", "defense-evasion", "--out", str(tmp_path), "--quiet"]) == 0
    assert cli.main(["run", "--technique", "T1562", "--out", str(tmp_path), "--quiet"]) == 0
    from scenarios.registry import load

    registry = load()
    docker = {s.id for s in registry.all() if "docker" in s.backends}
    assert set(fake_run[0]["ids"]) == {s.id for s in registry.select(tags=["defense-evasion"])} & docker
    assert ADVERSARY in fake_run[0]["ids"] and BENIGN not in fake_run[0]["ids"]
    assert set(fake_run[1]["ids"]) == {s.id for s in registry.select(techniques=["T1562"])} & docker
    assert {ADVERSARY, BENIGN} <= set(fake_run[1]["ids"])


def test_run_varied_only_keeps_the_selected_scenarios_that_declare_dimensions(fake_run, tmp_path):
    assert cli.main(["run", "--tag", "logging", "--varied-only", "--out", str(tmp_path), "--quiet"]) == 0
    from scenarios.registry import load

    logging = [s for s in load().select(tags=["logging"]) if "docker" in s.backends]
    assert any(not s.dimensions for s in logging), "the test needs a logging scenario without dimensions"
    assert fake_run[0]["ids"] == [s.id for s in logging if s.dimensions]


def test_run_varied_only_with_nothing_varied_is_bad_input(no_lab, capsys):
    from scenarios.registry import load

    plain = next(s.id for s in load().all() if not s.dimensions and "docker" in s.backends)
    assert cli.main(["run", plain, "--varied-only"]) == 2
    line = one_error_line(capsys)
    assert "--varied-only" in line and "declares dimensions" in line


def test_run_with_a_rule_dir_lacking_the_rule_runs_and_fails(fake_run, capsys, tmp_path, monkeypatch):
    """A removed rule is a lost detection (exit 1), not bad input: the scenario must run."""
    import harness.runner

    real = harness.runner.run

    def missing(scenarios, options):
        options.extra["miss"] = True
        return real(scenarios, options)

    monkeypatch.setattr(harness.runner, "run", missing)
    empty = tmp_path / "rules"
    empty.mkdir()
    assert cli.main(["run", ADVERSARY, "--rules", str(empty), "--out", str(tmp_path / "r"), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and f"{ADVERSARY}: missed" in out
    assert fake_run[0]["options"].rule_dirs == [empty]


def _canned(monkeypatch, change) -> None:
    """The fake runner's outcomes, changed by CHANGE(outcome) before the CLI sees them."""
    import harness.runner

    real = harness.runner.run

    def changed(scenarios, options):
        result = real(scenarios, options)
        for outcome in result.outcomes:
            change(outcome)
        return result

    monkeypatch.setattr(harness.runner, "run", changed)


def _skip_adversary(outcome: Outcome) -> None:
    if outcome.scenario_id == ADVERSARY:
        outcome.verdict, outcome.reason, outcome.rules = Verdict.SKIPPED, "no log driver here to turn off", []


def test_a_skip_fails_the_run_and_says_which_and_why(fake_run, monkeypatch, capsys, tmp_path):
    _canned(monkeypatch, _skip_adversary)
    assert cli.main(["run", ADVERSARY, BENIGN, "--out", str(tmp_path), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and f"{ADVERSARY}: skipped: no log driver here to turn off" in out
    assert "--allow-skips" in out
    assert json.loads((tmp_path / "scorecard.json").read_text())["summary"]["passed"] is False


def test_allow_skips_accepts_them_and_still_lists_each(fake_run, monkeypatch, capsys, tmp_path):
    _canned(monkeypatch, _skip_adversary)
    assert cli.main(["run", ADVERSARY, BENIGN, "--out", str(tmp_path), "--quiet", "--allow-skips"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and f"{ADVERSARY}: skipped (allowed by --allow-skips): no log driver" in out


def test_allow_skips_does_not_excuse_a_miss(fake_run, monkeypatch, capsys, tmp_path):
    def miss(outcome: Outcome) -> None:
        if outcome.scenario_id == ADVERSARY:
            outcome.verdict = Verdict.MISSED

    _canned(monkeypatch, miss)
    assert cli.main(["run", ADVERSARY, "--out", str(tmp_path), "--quiet", "--allow-skips"]) == 1


def test_unlisted_collateral_fails_a_detected_run(fake_run, monkeypatch, capsys, tmp_path):
    from harness.outcome import Collateral

    def collateral(outcome: Outcome) -> None:
        if outcome.scenario_id == ADVERSARY:
            outcome.collateral = [Collateral("stowaway.docker.privileged-container", "container:c1", allowed=False),
                                  Collateral("stowaway.net.egress-not-allowlisted", "container:c1", allowed=True,
                                             reason="Its payload sends to the lab internet.")]

    _canned(monkeypatch, collateral)
    assert cli.main(["run", ADVERSARY, "--out", str(tmp_path), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and f"{ADVERSARY}: detected" in out
    assert "false positive of stowaway.docker.privileged-container on container:c1" in out
    assert "egress-not-allowlisted on" not in out  # allowed collateral is no failure


def test_progress_lines_carry_elapsed_time(fake_run, capsys, tmp_path):
    assert cli.main(["run", ADVERSARY, "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "s] fake run" in err and "s] run: 1 scenario(s)" in err


# --- report / gate / baseline ------------------------------------------------------------------------


def test_report_rerenders_every_format(capsys, tmp_path):
    source = write_json(make_run(), tmp_path / "in" / "scorecard.json")
    assert cli.main(["report", "--from", str(source), "--out", str(tmp_path / "out")]) == 0
    assert {p.name for p in (tmp_path / "out").iterdir()} == set(FILENAMES.values())
    assert "run-20251129-0800-a1b2" in (tmp_path / "out" / "scorecard.md").read_text()


def test_report_broken_scorecard_names_the_field(capsys, tmp_path):
    source = tmp_path / "scorecard.json"
    data = json.loads(write_json(make_run(), source).read_text())
    data["outcomes"][1]["verdict"] = "maybe"
    source.write_text(json.dumps(data))
    assert cli.main(["report", "--from", str(source)]) == 2
    line = one_error_line(capsys)
    assert str(source) in line and "outcomes[1].verdict" in line


def test_report_missing_scorecard_is_bad_input(capsys, tmp_path):
    assert cli.main(["report", "--from", str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in one_error_line(capsys)


def test_baseline_update_then_gate(capsys, tmp_path):
    current = write_json(clean_run(), tmp_path / "scorecard.json")
    baseline = tmp_path / "baseline" / "scorecard.json"
    assert cli.main(["gate", "--current", str(current), "--baseline", str(baseline)]) == 2
    assert cli.main(["baseline", "update", "--from", str(current), "--baseline", str(baseline)]) == 0
    assert json.loads(baseline.read_text())["baseline"]["from_run_id"] == "run-clean"
    summary = tmp_path / "summary.md"
    assert cli.main(["gate", "--current", str(current), "--baseline", str(baseline), "--summary", str(summary)]) == 0
    assert "PASS" in summary.read_text()
    # make_run() skips a scenario: a skip fails the gate even against a baseline of itself.
    skipping = write_json(make_run(), tmp_path / "skipping.json")
    assert cli.main(["baseline", "update", "--from", str(skipping), "--baseline", str(baseline)]) == 0
    assert cli.main(["gate", "--current", str(skipping), "--baseline", str(baseline)]) == 1
    assert "Skipped (fail)" in capsys.readouterr().out


def test_committed_baseline_is_a_complete_scorecard():
    from harness.scorecard import from_json, load_json

    run = from_json(load_json(cli.DEFAULT_BASELINE))
    assert run.status == "complete" and run.outcomes
    assert {o.scenario_id for o in run.outcomes} >= {ADVERSARY, BENIGN}


# --- docs / watch / setup -------------------------------------------------------------------------------


def test_docs_writes_one_document_per_detector(capsys, tmp_path):
    assert cli.main(["docs", "--out", str(tmp_path), "--scorecard", str(tmp_path / "none.json")]) == 0
    assert (tmp_path / f"{LOGGING_RULE}.md").exists() and (tmp_path / "README.md").exists()


def test_watch_duration_must_be_positive(no_lab, capsys):
    assert cli.main(["watch", "--duration", "0"]) == 2
    assert "--duration" in one_error_line(capsys)


def test_setup_check_prints_the_command(monkeypatch, capsys):
    from lab import system

    monkeypatch.setattr(system, "plan", lambda: system.SetupPlan(debian_like=True, root=True,
                                                                  missing=("debootstrap",)))
    monkeypatch.setattr(system, "apply", lambda _p: pytest.fail("--check must not install"))
    assert cli.main(["setup", "--check"]) == 1
    out = capsys.readouterr().out
    assert "apt-get install -y --no-install-recommends debootstrap" in out


def test_setup_installs_as_root_on_debian(monkeypatch, capsys):
    from lab import system

    applied = []
    monkeypatch.setattr(system, "plan", lambda: system.SetupPlan(debian_like=True, root=True,
                                                                  missing=("libpcap0.8",)))
    monkeypatch.setattr(system, "apply", lambda p: applied.append(p.missing) or 0)
    assert cli.main(["setup"]) == 0
    assert applied == [("libpcap0.8",)]


def test_version_names_the_package_and_the_attack_version(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("stowaway ") and "ATT&CK v" in out


def test_list_filters_by_kind_backend_and_technique_with_aligned_columns(capsys):
    assert cli.main(["list", "--backend", "kubernetes", "--kind", "benign"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("ID ", "kubernetes."))]
    assert len(lines) >= 2 and all(" benign " in line for line in lines[1:])
    assert len({line.index("BACKENDS") if i == 0 else line.index("kubernetes  ") for i, line in enumerate(lines)}) \
        == 1  # the BACKENDS column starts at the same place on every line
    assert cli.main(["list", "--technique", "T1036", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(any(t.startswith("T1036") for t in r["techniques"]) for r in rows)


def test_list_filters_by_tactic_by_short_name_name_or_id(capsys):
    from harness.tactics import tactic_map

    by_form = []
    for form in ("privilege-escalation", "Privilege Escalation", "TA0004"):
        assert cli.main(["list", "--tactic", form, "--json"]) == 0
        by_form.append(json.loads(capsys.readouterr().out))
    rows = by_form[0]
    assert rows and by_form[1] == rows == by_form[2]
    assert all("privilege-escalation" in r["tactics"] for r in rows)
    assert "docker.escape.docker-socket" in {r["id"] for r in rows}
    assert ADVERSARY not in {r["id"] for r in rows}  # T1562.001 and T1610: defense evasion and execution
    assert all(r["tactics"] == [t.short_name for t in tactic_map().of_all(r["techniques"])] for r in rows)


def test_list_tactic_combines_with_kind_and_aligns_a_tactics_column(capsys):
    assert cli.main(["list", "--tactic", "impact", "--kind", "benign"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("ID ", "docker."))]
    assert len(lines) >= 2 and all(" benign " in line and line.endswith("impact") for line in lines[1:])
    assert len({line.index("TACTICS") if i == 0 else line.rindex("impact") for i, line in enumerate(lines)}) == 1


def test_list_unknown_tactic_exits_2_naming_it(capsys):
    assert cli.main(["list", "--tactic", "lateral-thinking"]) == 2
    line = one_error_line(capsys)
    assert "'lateral-thinking'" in line and "--tactic" in line and "defense-evasion" in line


# --- validate -------------------------------------------------------------------------------------------


def test_validate_checks_everything_and_starts_nothing(no_lab, capsys):
    assert cli.main(["validate"]) == 0
    out = capsys.readouterr().out
    for word in ("scenarios:", "rules:", "expectations:", "policies:", "plugins:", "valid"):
        assert word in out
    assert "playbooks" in out  # says there are none to check, rather than pretending


def test_validate_names_each_broken_kind_of_file(no_lab, capsys, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULE_DIR, rules)
    broken_rule = rules / "docker_logging_disabled.yml"
    broken_rule.write_text(broken_rule.read_text().replace("level: high", "level: severe"))
    policy = _policy_with_an_unknown_key(tmp_path)
    assert cli.main(["validate", "--rules", str(rules), "--policy", str(policy.parent)]) == 2
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("error: ") for e in errors)
    assert str(broken_rule) in errors[0] and "level" in errors[0]
    assert str(policy) in errors[1] and "colour" in errors[1]
    assert "expectations: not checked" in captured.out and "valid" not in captured.out


def test_validate_missing_directories_are_bad_input(no_lab, capsys, tmp_path):
    assert cli.main(["validate", "--policy", str(tmp_path / "absent")]) == 2
    assert "absent" in one_error_line(capsys)


# --- run --dry-run ----------------------------------------------------------------------------------------


def _plan_rows(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ID "))
    rows = {}
    for line in lines[start + 1:]:
        if not line.startswith(("docker.", "kubernetes.", "swarm.")):
            break
        scenario_id, kind, backend, runs = line.split(None, 3)
        rows[scenario_id] = [kind, backend, runs]
    return rows


def test_dry_run_prints_each_run_and_starts_nothing(no_lab, capsys, tmp_path):
    out_dir = tmp_path / "reports"
    assert cli.main(["run", ADVERSARY, BENIGN, "--dry-run", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert _plan_rows(out) == {ADVERSARY: ["adversary", "docker", "in parallel"],
                               BENIGN: ["benign", "docker", "in parallel"]}
    assert "nothing was started" in out and str(out_dir) in out
    assert not out_dir.exists()


def test_dry_run_lists_the_variants_the_seed_draws(no_lab, capsys):
    from harness.runner import work_items
    from scenarios.registry import load
    from scenarios.variants import variant_id

    scenario = load().get("docker.logging.stdout-devnull")
    assert scenario.dimensions, "the test needs a scenario that declares dimensions"
    assert cli.main(["run", scenario.id, "--dry-run", "--variants", "2", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    expected = [scenario.id if v is None else variant_id(cls, v) for cls, v in work_items([scenario], 2, 7)]
    assert list(_plan_rows(out)) == expected and len(expected) == 3
    assert "2 of them variants (2 per scenario, seed 7)" in out


def test_dry_run_says_which_scenarios_the_backend_would_skip(no_lab, capsys):
    assert cli.main(["run", ADVERSARY, "--dry-run", "--backend", "swarm"]) == 0
    assert _plan_rows(capsys.readouterr().out)[ADVERSARY] == [
        "adversary", "swarm", "skipped: does not support the swarm backend"]


def test_dry_run_still_refuses_bad_input(no_lab, capsys, tmp_path):
    assert cli.main(["run", "docker.logging.nope", "--dry-run"]) == 2
    assert "docker.logging.nope" in one_error_line(capsys)
    assert cli.main(["run", ADVERSARY, "--dry-run", "--policy", str(tmp_path / "absent")]) == 2
    assert "absent" in one_error_line(capsys)
    assert cli.main(["run", ADVERSARY, "--dry-run", "--variants", "some"]) == 2
    assert "--variants" in one_error_line(capsys)


# --- colour -----------------------------------------------------------------------------------------------


class _Terminal:
    """A stream that says it is a terminal, and keeps what was written."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("1", False), ("", True)])
def test_progress_colours_a_terminal_unless_no_color_is_set(monkeypatch, no_color, coloured):
    from harness.progress import ProgressPrinter

    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)  # an empty value does not count, as no-color.org says
    terminal = _Terminal()
    printer = ProgressPrinter(stream=terminal)  # type: ignore[arg-type]
    printer("[1/1] docker.x: missed - no rule fired")
    assert ("\x1b[" in terminal.text) is coloured
    assert "docker.x: missed" in terminal.text


def test_progress_of_a_run_holds_no_escape_code_off_a_terminal(fake_run, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli.main(["run", ADVERSARY, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "fake run" in captured.err
    assert "\x1b" not in captured.err and "\x1b" not in captured.out


# --- completion -------------------------------------------------------------------------------------------


def _completion_script(capsys) -> str:
    assert cli.main(["completion", "bash"]) == 0
    return capsys.readouterr().out


def test_completion_script_names_every_command_and_its_options(capsys):
    import argparse

    script = _completion_script(capsys)
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) >= {"list", "run", "validate", "completion"}
    for name, sub in commands.items():
        assert f"        {name})\n" in script, name
        for action in sub._actions:
            for option in action.option_strings:
                assert option in script, (name, option)
    assert "complete -F _stowaway stowaway" in script


def _complete(script: str, tmp_path: Path, words: list[str]) -> list[str]:
    """What bash offers for the last of ``words`` (the one being typed), with the script sourced."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    path = tmp_path / "stowaway.bash"
    path.write_text(script)
    quoted = " ".join(f"'{w}'" for w in words)
    probe = (f"source {path}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _stowaway; "
             'printf "%s\\n" "${COMPREPLY[@]}"')
    import subprocess

    done = subprocess.run([bash, "--norc", "--noprofile", "-c", probe], capture_output=True, text=True, timeout=30,
                          check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_completion_completes_commands_options_values_and_ids(capsys, tmp_path):
    script = _completion_script(capsys)
    (tmp_path / "rules-here").mkdir()
    assert _complete(script, tmp_path, ["stowaway", "l"]) == ["list", "lab"]
    assert _complete(script, tmp_path, ["stowaway", "run", "--backend", ""]) == ["docker", "swarm", "kubernetes",
                                                                                  "kind"]
    assert _complete(script, tmp_path, ["stowaway", "run", "--dry"]) == ["--dry-run"]
    assert ADVERSARY in _complete(script, tmp_path, ["stowaway", "explain", "docker.logging.log-d"])
    assert _complete(script, tmp_path, ["stowaway", "validate", "--rules", "rules-"]) == ["rules-here"]
    assert _complete(script, tmp_path, ["stowaway", "list", "--tag", ""]) == []  # free text: nothing to offer
    assert _complete(script, tmp_path, ["stowaway", "completion", ""]) == ["bash"]
    assert _complete(script, tmp_path, ["stowaway", "list", "--tactic", "pr"]) == ["privilege-escalation"]
    assert _complete(script, tmp_path, ["stowaway", "run", "--technique", "T1562."]) == ["T1562.001", "T1562.006"]
