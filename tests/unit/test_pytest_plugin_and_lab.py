"""The pytest plugin's collection of scenario items, and the lab commands with no engine around."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness import labctl
from harness.progress import ProgressPrinter
from lab.paths import LabPaths
from scenarios.registry import load

pytest_plugins = ["pytester"]


def test_scenarios_become_items_with_markers(pytester):
    result = pytester.runpytest_subprocess("--stowaway-scenarios=logging", "-m", "scenario", "--co", "-q",
                                           "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert "scenario::docker.logging.log-driver-none" in out
    assert "scenario::docker.logging.dev-minimal-logging" in out


def test_scenario_items_select_by_technique_and_id(pytester):
    out = pytester.runpytest_subprocess("--stowaway-scenarios=docker.logging.log-driver-none", "--co", "-q",
                                        "-m", "scenario").stdout.str()
    assert "scenario::docker.logging.log-driver-none" in out and "dev-minimal-logging" not in out
    out = pytester.runpytest_subprocess("--stowaway-scenarios=T1562.001", "--co", "-q", "-m", "scenario").stdout.str()
    items = {line.split("::", 1)[1] for line in out.splitlines() if line.startswith("scenario::")}
    wanted = {cls.id for cls in load().select(techniques=["T1562.001"]) if "docker" in cls.backends}
    assert items == wanted and "docker.logging.log-driver-none" in items


def test_unknown_selector_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess("--stowaway-scenarios=no-such-tag", "--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "matches no scenario" in result.stderr.str()


def test_scenario_outcome_needs_the_marker(pytester):
    pytester.makepyfile("def test_x(scenario_outcome):\n    pass\n")
    pytester.makeconftest(
        "import pytest\n"
        "@pytest.fixture\n"
        "def run_scenario():\n"
        "    return lambda scenario_id: scenario_id\n")
    result = pytester.runpytest_subprocess("-q")
    assert "needs @pytest.mark.scenario" in result.stdout.str()


SKIPPED_SCENARIO_TEST = """
from harness.outcome import Outcome, Verdict
from harness.pytest_plugin import scenario_skipped

def test_skipped(request):
    outcome = Outcome(scenario_id="docker.x.y", title="t", kind="adversary", techniques=["T1610"],
                      backend="docker", verdict=Verdict.SKIPPED, reason="no Swarm on the lab engine")
    scenario_skipped(request.config, outcome)
"""


def test_a_skipped_scenario_fails_under_require_engine_and_skips_otherwise(pytester, monkeypatch):
    monkeypatch.delenv("STOWAWAY_REQUIRE_ENGINE", raising=False)
    pytester.makepyfile(SKIPPED_SCENARIO_TEST)
    relaxed = pytester.runpytest_subprocess("-q", "-rs")
    relaxed.assert_outcomes(skipped=1)
    assert "docker.x.y skipped: no Swarm on the lab engine" in relaxed.stdout.str()
    strict = pytester.runpytest_subprocess("-q", "--require-engine")
    strict.assert_outcomes(failed=1)
    assert "a skip fails under --require-engine" in strict.stdout.str()


def test_lab_status_without_an_engine(tmp_path):
    paths = LabPaths(state=tmp_path / "state", runtime=tmp_path / "run")
    paths.ensure()
    out = io.StringIO()
    assert labctl.status(paths, out) == 0
    text = out.getvalue()
    assert "not running" in text and "lab up:  no" in text and "leases:  0" in text


def test_lab_down_when_nothing_is_up(tmp_path):
    paths = LabPaths(state=tmp_path / "state", runtime=tmp_path / "run")
    paths.ensure()
    labctl.state_file(paths).write_text('{"pid": 999999999, "lease": "lab-up", "started_at": 0, '
                                        '"engine": "x", "image": "y"}')
    out = io.StringIO()
    assert labctl.down(paths, out, progress=lambda _m: None) == 0
    assert "not up" in out.getvalue()
    assert not labctl.state_file(paths).exists()  # the stale file of a dead holder is gone


def test_progress_lines_are_stamped_and_plain_off_a_terminal():
    stream = io.StringIO()
    printer = ProgressPrinter(stream=stream)
    printer("[1/2] x: missed - no alert")
    line = stream.getvalue()
    assert line.startswith("[") and "s] [1/2] x: missed - no alert" in line and "\033" not in line
    quiet = io.StringIO()
    ProgressPrinter(stream=quiet, quiet=True)("hidden")
    assert quiet.getvalue() == ""


def test_host_dirs_are_named_at_random_not_after_the_scope(tmp_path):
    # The runner names a scope after the scenario id; a host path is telemetry (mount sources, FIM
    # paths, command lines), so the scope's host directories must not carry that name.
    from types import SimpleNamespace

    from harness.hoststate import leftovers
    from lab.lab import Lab
    from lab.paths import LabPaths

    paths = LabPaths(state=tmp_path / "state", runtime=tmp_path / "run")
    session = SimpleNamespace(host_root=paths.host_root / "RUN-1")
    lab = Lab(session, "docker.escape.nsenter-host-123")  # type: ignore[arg-type]
    path = lab.host_dir("spool")
    assert path.is_dir() and "nsenter" not in str(path) and "escape" not in str(path)
    assert path.parent.parent == session.host_root and path.parent.name == lab.host_key
    assert f"hostdir:{path}" in lab.object_refs()

    class Host:  # testinfra's file() is all the host-dir check needs
        def file(self, name):
            return SimpleNamespace(exists=Path(name).exists())

    left = leftovers("RUN-1", objects=lab.object_refs(), host=Host(), paths=paths, scope="docker.escape.nsenter-host")
    assert left == {"host_dir": [str(path)]}
    assert lab.unwind() == []
    assert leftovers("RUN-1", objects=lab.object_refs(), host=Host(), paths=paths, scope="x") == {}
    assert not path.parent.exists()
