"""Placing an external alert on a container from its pid, and reading --alerts-from specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.external.alert import ExternalAlert
from harness.external.collect import PidHistory, parse_spec, place
from harness.external.mapping import DetectorMapping, Expected
from harness.external.sources import HttpReceiver, JsonLinesFile, SourceError

A = "a" * 64
B = "b" * 64
NODE = "9" * 64


def exec_event(pid: int, container: str, at: float) -> dict[str, object]:
    return {"event.module": "linux", "process.pid": pid, "container.id": container, "event.created": at}


def test_history_takes_the_last_sighting_before_the_alert_as_pids_are_reused() -> None:
    history = PidHistory()
    history.tap(exec_event(300, A, 10.0))
    history.tap(exec_event(300, B, 50.0))  # the pid, reused by a process of another container
    history.tap({"process.pid": 301, "event.created": 5.0})  # a host exec: no container, not kept
    assert history.container_of(300, 20.0) == A
    assert history.container_of(300, 60.0) == B
    assert history.container_of(300, 5.0) == ""
    assert history.container_of(301, 9.0) == ""


def test_history_forgets_the_oldest_pids_past_its_cap() -> None:
    history = PidHistory(cap=2)
    for pid in (1, 2, 3):
        history.tap(exec_event(pid, A, 1.0))
    assert history.container_of(1, 9.0) == "" and history.container_of(3, 9.0) == A


def fake_proc(tmp_path: Path, pid: int, cgroup: str) -> str:
    (tmp_path / str(pid)).mkdir()
    (tmp_path / str(pid) / "cgroup").write_text(cgroup)
    return str(tmp_path)


def test_place_reads_the_live_cgroup_first_then_the_history_then_the_parent(tmp_path: Path) -> None:
    history = PidHistory()
    history.tap(exec_event(500, B, 1.0))
    proc = fake_proc(tmp_path, 400, f"12:pids:/docker/{NODE}/kubelet.slice/cri-containerd-{A}.scope\n")
    live = place(ExternalAlert(detector="auditd", rule="k", time=2.0, pid=400), history, proc)
    assert live.container_id == A  # the pod's container inside the kind node, not the node
    gone = place(ExternalAlert(detector="auditd", rule="k", time=2.0, pid=500), history, proc)
    assert gone.container_id == B
    child = place(ExternalAlert(detector="auditd", rule="k", time=2.0, pid=501, ppid=500), history, proc)
    assert child.container_id == B  # a forked child that never exec'd: its parent's container
    host = fake_proc(tmp_path, 600, "12:pids:/user.slice\n")
    assert place(ExternalAlert(detector="auditd", rule="k", time=2.0, pid=600), history, host).container_id == ""
    named = ExternalAlert(detector="falco", rule="k", time=2.0, pid=400, container_id="c" * 12)
    assert place(named, history, proc) is named  # a tool that names the container is believed


MAPPINGS = {"falco": DetectorMapping(detector="falco", format="falco", path="f.yaml",
                                     expect={"x": Expected(fires=("r",))}),
            "auditd": DetectorMapping(detector="auditd", format="auditd", path="a.yaml")}


def test_specs_make_their_sources(tmp_path: Path) -> None:
    source, mapping = parse_spec(f"falco=file:{tmp_path}/falco.jsonl", MAPPINGS, tmp_path)
    assert isinstance(source, JsonLinesFile) and mapping is MAPPINGS["falco"]
    assert source.where == f"file:{tmp_path}/falco.jsonl"
    source, mapping = parse_spec("tetragon=http:0", MAPPINGS, tmp_path)  # no mapping: a format name is enough
    assert isinstance(source, HttpReceiver) and mapping.format == "tetragon" and not mapping.expect
    assert source.where.startswith("http://127.0.0.1:")
    source.finish()


@pytest.mark.parametrize(("spec", "message"), [
    ("falco", "write NAME=file:PATH"),
    ("siem=file:/x", "no mapping file names detector 'siem'"),
    ("falco=file:", "file: needs a path"),
    ("falco=http:abc", "needs a port number"),
    ("falco=http:70000", "out of range"),
    ("falco=http:0.0.0.0:9000", "only a loopback address"),
    ("falco=ftp:/x", "unknown source kind 'ftp'"),
    ("falco=auditd:", "reads format falco, not auditd"),
    ("auditd=file:/x", "come from the lab's own auditd"),
])
def test_a_bad_spec_is_refused_naming_it(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_spec(spec, MAPPINGS, tmp_path)
    assert message in str(caught.value) and repr(spec) in str(caught.value)


class ListSource:
    """A source handing out what a test puts in it."""

    detector, where = "auditd", "test:"

    def __init__(self) -> None:
        self.queue: list[ExternalAlert] = []
        self.finished = False

    def start(self) -> None: ...

    def poll(self) -> list[ExternalAlert]:
        taken, self.queue = self.queue, []
        return taken

    def finish(self) -> list[ExternalAlert]:
        self.finished = True
        return self.poll()

    def problems(self) -> list[str]:
        return []

    def unreadable(self) -> int:
        return 0


def test_an_alert_waits_for_the_process_telemetry_that_arrives_after_it() -> None:
    from harness.external.collect import Collector

    source = ListSource()
    collector = Collector([(source, MAPPINGS["auditd"])], PidHistory())
    collector._started = list(collector.collected)  # started by hand: no polling thread in a unit test
    item = collector.collected[0]
    gone = 2 ** 22 + 7  # above any pid_max: /proc has no such process
    source.queue = [ExternalAlert(detector="auditd", rule="container-config", time=5.0, pid=gone),
                    ExternalAlert(detector="auditd", rule="module-load", time=5.0)]
    collector._poll_all()
    assert [a.rule for a in item.alerts] == ["module-load"]  # no pid: nothing to wait for
    collector.history.tap(exec_event(gone, A, 4.9))  # the exec event reaches the monitor late
    collector._poll_all()
    assert [(a.rule, a.container_id) for a in item.alerts] == [("module-load", ""), ("container-config", A)]
    source.queue = [ExternalAlert(detector="auditd", rule="never-placed", time=5.0, pid=gone + 1)]
    collector._poll_all()
    assert collector.finish(drain_s=0) == [] and source.finished
    assert item.alerts[-1].rule == "never-placed" and item.alerts[-1].container_id == ""  # kept, unplaced
