"""Record and replay: a recorded run is judged again without a lab, and really re-judged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness import cli
from harness.outcome import Outcome, RunResult, Verdict
from harness.recording import EVENTS_FILE, RUN_FILE, RunRecorder
from harness.replay import load_run, replay_run
from harness.scorecard import FILENAMES
from scenarios.registry import load

ROOT = Path(__file__).resolve().parents[2]
RUNS = sorted(p for p in (ROOT / "tests" / "fixtures" / "runs").iterdir() if (p / RUN_FILE).is_file())
RULE_DIR = ROOT / "detectors" / "rules"
DOCKER_RUN = ROOT / "tests" / "fixtures" / "runs" / "docker-escape-logging-network"


def test_there_are_committed_runs():
    assert len(RUNS) >= 2


@pytest.mark.parametrize("run_dir", RUNS, ids=[p.name for p in RUNS])
def test_replay_reproduces_the_recorded_verdicts(run_dir):
    recorded = load_run(run_dir)
    result = replay_run(recorded)
    assert [(o.scenario_id, o.verdict) for o in result.outcomes] == \
        [(r.scenario_id, r.recorded_verdict) for r in recorded.outcomes]
    assert result.passed, [(o.scenario_id, o.reason) for o in result.outcomes if not o.passed]
    assert result.environment["engine_dropped"] == 0


@pytest.mark.parametrize("run_dir", RUNS, ids=[p.name for p in RUNS])
def test_cli_replay_passes_and_writes_every_scorecard(no_lab, capsys, tmp_path, run_dir):
    assert cli.main(["replay", str(run_dir), "--out", str(tmp_path)]) == 0
    assert "PASS" in capsys.readouterr().out
    assert all((tmp_path / name).is_file() for name in FILENAMES.values())
    card = json.loads((tmp_path / "scorecard.json").read_text())
    assert len(card["outcomes"]) == len(load_run(run_dir).outcomes)


def test_a_rule_dir_without_the_expected_rule_turns_a_detection_into_a_miss(no_lab, capsys, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULE_DIR, rules)
    (rules / "docker_sensitive_host_mount.yml").unlink()
    assert cli.main(["replay", str(DOCKER_RUN), "--rules", str(rules), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "docker.escape.docker-socket: missed (recorded: detected)" in out
    card = json.loads((tmp_path / "out" / "scorecard.json").read_text())
    verdicts = {o["scenario_id"]: o["verdict"] for o in card["outcomes"]}
    assert verdicts["docker.escape.docker-socket"] == "missed"
    assert verdicts["docker.logging.log-driver-none"] == "detected"  # the others judged as before


def test_a_broken_rule_is_bad_input(no_lab, capsys, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULE_DIR, rules)
    broken = rules / "docker_logging_disabled.yml"
    broken.write_text(broken.read_text().replace("level: high", "level: severe"))
    assert cli.main(["replay", str(DOCKER_RUN), "--rules", str(rules), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert str(broken) in error and "level" in error
    assert not (tmp_path / "out").exists()


def _copy_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(DOCKER_RUN, run_dir)
    return run_dir


def test_a_broken_run_json_names_file_and_field(no_lab, capsys, tmp_path):
    run_dir = _copy_run(tmp_path)
    document = json.loads((run_dir / RUN_FILE).read_text())
    document["outcomes"][2]["started_at"] = "yesterday"
    (run_dir / RUN_FILE).write_text(json.dumps(document))
    assert cli.main(["replay", str(run_dir)]) == 2
    error = capsys.readouterr().err
    assert str(run_dir / RUN_FILE) in error and "outcomes[2].started_at" in error


def test_a_line_that_is_not_an_event_names_file_and_line(no_lab, capsys, tmp_path):
    run_dir = _copy_run(tmp_path)
    with open(run_dir / EVENTS_FILE, "a") as events:
        events.write("[1, 2]\n")
    lines = len((run_dir / EVENTS_FILE).read_text().splitlines())
    assert cli.main(["replay", str(run_dir)]) == 2
    error = capsys.readouterr().err
    assert str(run_dir / EVENTS_FILE) in error and f"line {lines}" in error


def test_a_missing_recording_is_bad_input(no_lab, capsys, tmp_path):
    assert cli.main(["replay", str(tmp_path)]) == 2
    assert str(tmp_path / RUN_FILE) in capsys.readouterr().err


def test_the_recorder_writes_what_a_replay_reads(tmp_path):
    """RunRecorder (the monitor's tap) and run.json round-trip through load_run, and replay judges them."""
    source = load_run(DOCKER_RUN)
    recorder = RunRecorder(tmp_path)
    for event in source.events:
        recorder.tap(dict(event))
    last = max(float(e["event.created"]) for e in source.events)
    recorder.tap({"event.created": last, "odd": {1, 2}})  # a set: written as its str, not lost
    recorder.close()
    registry = load()
    outcomes = [Outcome(scenario_id=r.scenario_id, title=r.title, kind=r.kind.value, techniques=r.techniques,
                        backend=r.backend, verdict=r.recorded_verdict, reason="live", started_at=r.started_at,
                        action_at=r.action_at, finished_at=r.finished_at, objects=r.objects)
                for r in source.outcomes]
    result = RunResult(run_id="run-x", attack_version="18", backend="docker", started_at=0.0, finished_at=1.0,
                       outcomes=outcomes)
    recorder.write_run(result, [registry.get(o.scenario_id) for o in outcomes], source.platform)
    assert recorder.recorded == len(source.events) + 1 and recorder.unrecorded == 0
    again = load_run(tmp_path)
    assert again.outcomes[0].expect == registry.get(outcomes[0].scenario_id).expect
    assert sorted(recorder.image_ids) and recorder.network_ids
    replayed = replay_run(again)
    assert [o.verdict for o in replayed.outcomes] == [o.verdict for o in outcomes]
    assert all(o.verdict in (Verdict.DETECTED, Verdict.SILENT) for o in replayed.outcomes)


def test_a_long_silence_is_not_ticked_second_by_second():
    from harness.replay import MAX_IDLE_TICKS, replay_events

    class Ticks:
        def __init__(self):
            self.ticks = []

        def tick(self, now):
            self.ticks.append(now)
            return []

        def process(self, event):
            return []

    engine = Ticks()
    replay_events([{"event.created": 1.0}, {"event.created": 1e9}], engine)  # type: ignore[arg-type]
    assert len(engine.ticks) < MAX_IDLE_TICKS + 10 and engine.ticks[-2] > 1e9 - 2


def test_run_record_sets_the_record_dir(monkeypatch, tmp_path):
    import harness.runner

    seen = []

    def fake(scenarios, options):
        seen.append(options.record_dir)
        return RunResult(run_id="run-fake", attack_version="18", backend="docker", started_at=1.0,
                         finished_at=2.0, outcomes=[])

    monkeypatch.setattr(harness.runner, "run", fake)
    cli.main(["run", "docker.logging.log-driver-none", "--record", "--quiet", "--out", str(tmp_path)])
    cli.main(["run", "docker.logging.log-driver-none", "--quiet", "--out", str(tmp_path)])
    assert seen == [tmp_path, None]


def test_the_recorder_keeps_a_signature_read_when_its_image_is_first_seen(tmp_path: Path) -> None:
    """A scenario that removes its platform image at cleanup removes its signature with it: read at
    the end of the run, the image looked unsigned and its replay raised a false impersonation."""
    from detectors.event import new_event
    from harness.recording import RunRecorder
    from lab import signature_file

    image = "sha256:" + "ab" * 32
    store = tmp_path / "signatures"
    store.mkdir()
    signature_file(store, image).write_text(json.dumps({"image_id": image, "signature": "c2ln"}))
    recorder = RunRecorder(tmp_path / "run", store)
    event = new_event("docker", "docker.events", "start")
    event["container.image.id"] = image
    recorder.tap(event)
    signature_file(store, image).unlink()  # the scenario's cleanup
    recorder.close()
    assert recorder.signatures == {image: {"image_id": image, "signature": "c2ln"}}
