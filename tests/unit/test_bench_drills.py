"""The bench's and drills' own logic, without timing: percentiles, ratios, verdicts, reports, counting."""

from __future__ import annotations

import itertools
import json
import math
import time

import pytest

from detectors.engine import DetectionEngine, Monitor, load_rules
from detectors.policies import load_policy
from detectors.replay import replay
from harness.bench.report import Figure, Report, markdown, percentile, ratio
from harness.bench.sampler import missed_samples
from harness.bench.suite import scenario_span, serial_sum
from harness.bench.telemetry import MIX, generate, load_templates, weights
from harness.drills import leftovers
from harness.drills.badinput import CASES, judge
from harness.drills.concurrency import problems
from harness.drills.fuzz import accounting, fuzzed_lines
from lab.paths import LabPaths


def test_percentile_interpolates_like_numpy():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert percentile(list(range(1, 21)), 95) == pytest.approx(19.05)
    assert percentile([0.1, math.inf, math.inf], 95) == math.inf  # never nan


@pytest.mark.parametrize("bad", [[], None])
def test_percentile_refuses_nothing(bad):
    with pytest.raises((ValueError, TypeError)):
        percentile(bad, 50)


def test_ratio_never_divides_by_zero():
    assert ratio(3, 4) == 0.75
    assert ratio(1, 0) == math.inf
    assert ratio(0, 0) == 0.0


def test_figure_status_and_miss_by():
    under = Figure("a", "m", 0.5, 1.0, "<=")
    assert under.status == "pass" and under.miss_by is None
    over = Figure("a", "m", 2.5, 1.0, "<=")
    assert over.status == "miss" and over.miss_by == {"over": 1.5, "factor": 2.5}
    low = Figure("a", "m", 0.25, 0.75, ">=")
    assert low.status == "miss" and low.miss_by["factor"] == pytest.approx(3.0)
    assert Figure("a", "m", None, 1.0, skipped="other runs").status == "skipped"
    assert Figure("a", "m", 12.0, None).status == "reported"
    assert Figure("a", "m", math.inf, 1.0).to_dict()["value"] == "inf"


def test_report_writes_json_and_markdown(tmp_path):
    report = Report("bench")
    report.add([Figure("x.p95", "latency", 0.3, 1.0, unit="s"), Figure("y", "ratio", 0.1, 0.75, ">=", "x")])
    report.add(Figure("z", "scale", None, 10.0, skipped="shared engine"))
    report.add(Figure("w", "latency", math.inf, 1.0, unit="s"))
    report.notes.append("noisy")
    json_path, md_path = report.write(tmp_path)
    data = json.loads(json_path.read_text())
    assert data["counts"] == {"pass": 1, "miss": 2, "skipped": 1, "reported": 0}
    assert [f["status"] for f in data["figures"]] == ["pass", "miss", "skipped", "miss"]
    text = md_path.read_text()
    assert "| inf s |" in text and "| `y` |" in text and "miss" in text
    assert "skipped: shared engine" in text and "- noisy" in text
    assert not list(tmp_path.glob("*.tmp"))
    assert markdown(data) == text


def test_serial_sum_and_span():
    card = {"outcomes": [{"started_at": 10.0, "finished_at": 20.0}, {"started_at": 12.0, "finished_at": 15.0},
                         {"started_at": None, "finished_at": 1.0}]}
    assert serial_sum(card) == 13.0
    assert scenario_span(card) == 10.0
    assert serial_sum({}) == 0.0


def test_missed_samples_counts_containers_never_sampled():
    assert missed_samples({"a": 60, "b": 60}, 2, 60) == 0
    assert missed_samples({"a": 61, "b": 58}, 2, 60) == 2  # extra samples of one never cover another's gap
    assert missed_samples({"a": 60}, 3, 60) == 120


def test_telemetry_mix_covers_recorded_datasets():
    templates = load_templates()
    datasets = sorted(templates)
    shares = weights(datasets)
    assert sum(shares) == pytest.approx(1.0)
    assert set(MIX) <= set(datasets), "every weighted dataset has recorded templates"
    events = list(generate(2000, templates=templates))
    assert len({e["event.id"] for e in events}) == 2000
    assert all(b["event.created"] > a["event.created"] for a, b in itertools.pairwise(events))
    seen = {e["event.dataset"] for e in events}
    assert {"linux.resources", "linux.process", "network.flow", "docker.events"} <= seen


def test_leftover_counting(tmp_path):
    dump = "\n".join([
        '-A FORWARD -s 198.18.0.0/15 -m comment --comment "stowaway:RUN-1" -j DROP',
        '-A FORWARD -m comment --comment "stowaway:RUN-2" -j DROP',
        "# -A commented out stowaway:RUN-1",
    ])
    assert leftovers.host_iptables_rules("RUN-1", dump) == 1
    nat = "\n".join(["*nat", "-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT", "-A DOCKER_OUTPUT -p udp -j DNAT",
                     "-A OUTPUT -p tcp --dport 9 -j DNAT --to-destination 198.19.0.10:80", "COMMIT"])
    assert leftovers.namespace_nat_rules(nat) == 1
    instances = tmp_path / "instances"
    (instances / "stowaway-RUN-1-exec").mkdir(parents=True)
    (instances / "stowaway-RUN-2-tcp").mkdir()
    assert leftovers.tracefs_instances("RUN-1", instances) == 1
    paths = LabPaths(state=tmp_path / "state", runtime=tmp_path / "run")
    assert leftovers.host_files(paths, "RUN-1") == 0
    (paths.host_root / "RUN-1" / "scope" / "state").mkdir(parents=True)
    (paths.host_root / "RUN-1" / "scope" / "state" / "marker").write_text("x")
    assert leftovers.host_files(paths, "RUN-1") == 4  # the run dir, scope dir, state dir, marker
    assert leftovers.run_status(paths, "RUN-1") == "missing"
    paths.runs.mkdir(parents=True)
    (paths.runs / "RUN-1.json").write_text('{"run_id": "RUN-1", "pid"')
    assert leftovers.run_status(paths, "RUN-1") == "unreadable"
    record = {"run_id": "RUN-1", "pid": 1, "started_at": 0, "status": "aborted"}
    (paths.runs / "RUN-1.json").write_text(json.dumps(record))
    assert leftovers.run_status(paths, "RUN-1") == "aborted"
    counts = leftovers.count(None, paths, "RUN-1", tracefs_root=tmp_path / "no-tracefs")
    assert counts["engine"] is False and leftovers.total(counts) == 4


def test_bad_input_judge():
    assert judge(2, "error: /x/r.yml: condition: 'ghost' is not defined", "r.yml", "condition") == []
    assert len(judge(1, "boom", "r.yml", "condition")) == 3
    assert len(CASES) >= 25 and len({c.name for c in CASES}) == len(CASES)
    assert {c.area for c in CASES} == {"scenario", "rule", "policy", "baseline"}


def _card(run_id, verdict="detected", objects=("container:a",), alert_on="container:a"):
    return {"run_id": run_id, "status": "complete", "outcomes": [
        {"scenario_id": "s1", "verdict": verdict, "objects": list(objects), "alerts": [{"object": alert_on}]}]}


def test_concurrency_problems():
    assert problems(_card("A"), _card("B", objects=("container:b",), alert_on="container:b")) == []
    assert any("same run id" in p for p in problems(_card("A"), _card("A", objects=("container:b",),
                                                                      alert_on="container:b")))
    crossed = problems(_card("A", alert_on="container:b"), _card("B", objects=("container:b",), alert_on="container:b"))
    assert any("other run's objects" in p for p in crossed)
    assert any("failed" in p for p in problems(_card("A", verdict="missed"), {}))
    assert any("s1=skipped" in p for p in problems(_card("A", verdict="skipped"), {}))  # a skip is no pass
    unlisted = _card("A")
    unlisted["outcomes"][0]["collateral"] = [{"rule_id": "r2", "object": "container:a", "allowed": False}]
    assert any("s1=collateral r2" in p for p in problems(unlisted, {}))
    shared = problems(_card("A", objects=("file:/etc/x",), alert_on="file:/etc/x"),
                      _card("B", objects=("file:/etc/x",), alert_on="file:/etc/x"))
    assert shared == [], "host-wide objects are shared by every run"


def _engine() -> DetectionEngine:
    return DetectionEngine(load_rules(), load_policy())


def test_replay_accounts_for_every_line():
    lines = [line for _, line in fuzzed_lines(800)]
    engine = _engine()
    counters, _ = replay(lines, engine)
    assert counters.lines == 800 and counters.unparsed > 0
    assert accounting(counters.lines, counters.unparsed, engine.counters.events) == 0
    assert engine.counters.dropped > 0  # the wrong-type cases really reach the guard


def _logging_none(created: object, cid: str = "c" * 64) -> dict:
    return {"event.id": "e1", "event.module": "docker", "event.dataset": "docker.events", "event.action": "start",
            "event.created": created, "container.id": cid, "container.logging.driver": "none",
            "container.network.names": ["stw-lan"]}


def test_engine_counts_an_alert_with_a_malformed_timestamp_as_dropped():
    engine = _engine()
    assert engine.process(_logging_none(["not", "a", "time"])) == []
    assert engine.counters.dropped == 1
    engine.tick(time.time())  # nothing malformed was kept for the tick to trip on
    assert [a.rule_id for a in engine.process(_logging_none(time.time()))] == ["stowaway.docker.logging-disabled"]


def test_monitor_worker_survives_a_malformed_event():
    engine = _engine()
    monitor = Monitor(engine, [])
    monitor.start()
    try:
        monitor._emit_from("t")({**_logging_none(time.time(), "d" * 64), "observer.name": ["unhashable"]})
        monitor._emit_from("t")(_logging_none(time.time()))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not monitor.alerts_for(["container:" + "c" * 64]):
            time.sleep(0.05)
        assert monitor.alerts_for(["container:" + "c" * 64])
        assert engine.counters.dropped == 1
    finally:
        monitor.stop()


def test_reaper_removes_host_dirs_of_dead_runs_only(tmp_path, monkeypatch):
    from lab import bookkeeping
    from lab.bookkeeping import RunRecord, reap

    # Hermetic: with records only under tmp_path, every real run on this host would look dead to the
    # reaper, so the host-wide parts (iptables, tracefs) must not run here.
    monkeypatch.setattr(bookkeeping, "reap_iptables", lambda doomed: 0)
    monkeypatch.setattr(bookkeeping, "reap_tracefs", lambda doomed: 0)

    paths = LabPaths(state=tmp_path / "state", runtime=tmp_path / "run")
    paths.ensure()
    dead = RunRecord(run_id="20260101-000000-dead00", pid=2**22 + 12345, started_at=0)  # no such pid
    live = RunRecord(run_id="20260101-000000-a11ve0", pid=__import__("os").getpid(), started_at=0)
    for record in (dead, live):
        record.save(paths)
        (paths.host_root / record.run_id / "scope" / "state").mkdir(parents=True)
        (paths.host_root / record.run_id / "scope" / "state" / "marker").write_text("x")
    report = reap(None, paths)
    assert report.host_dirs == 1 and report.runs_marked_aborted == [dead.run_id]
    assert not (paths.host_root / dead.run_id).exists()
    assert (paths.host_root / live.run_id / "scope" / "state" / "marker").exists()
