"""TraceInstance against a stand-in tracefs: a directory tree, with a FIFO for trace_pipe."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from detectors.sensors import tracefs
from detectors.sensors.tracefs import TraceInstance


@pytest.fixture
def instance(tmp_path: Path) -> TraceInstance:
    path = tmp_path / "instances" / "stowaway-test-tcp"
    (path / "events" / "sock" / "inet_sock_set_state").mkdir(parents=True)
    (path / "options").mkdir()
    os.mkfifo(path / "trace_pipe")
    return TraceInstance("stowaway-test-tcp", tmp_path)


def test_create_switches_on_what_it_is_asked_and_reads_whole_lines(instance: TraceInstance) -> None:
    event = "sock/inet_sock_set_state"
    instance.create([event], filters={event: "family == 2"}, options=["fields"], buffer_kb=64)
    assert (instance.path / "events" / event / "enable").read_text() == "1"
    assert (instance.path / "events" / event / "filter").read_text() == "family == 2"
    assert (instance.path / "options" / "fields").read_text() == "1"
    assert (instance.path / "buffer_size_kb").read_text() == "64"
    assert instance.boot_clock and instance.live
    writer = os.open(instance.path / "trace_pipe", os.O_WRONLY)
    stop = threading.Event()
    got: list[bytes] = []
    try:
        os.write(writer, b"one\ntw")
        for lines in instance.lines(stop, timeout=0.01):
            got.extend(lines)
            if got == [b"one"]:
                os.write(writer, b"o\n")  # the rest of a line cut by the read
            elif len(got) == 2:
                stop.set()
    finally:
        os.close(writer)
    assert got == [b"one", b"two"]


def test_remove_switches_off_and_says_when_the_instance_stays(instance: TraceInstance,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracefs, "REMOVE_TRIES", 1)
    instance.create(["sock/inet_sock_set_state"])
    assert instance.remove() is False  # a real instance empties itself; this stand-in cannot
    assert not instance.live
    assert (instance.path / "tracing_on").read_text() == "0"
    assert (instance.path / "events/sock/inet_sock_set_state/enable").read_text() == "0"


def test_without_tracefs_it_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracefs.subprocess, "run", lambda *a, **k: type("R", (), {"stderr": "no permission"})())
    with pytest.raises(tracefs.TracefsUnavailable, match="no permission"):
        TraceInstance("x", tmp_path / "absent").create(["sched/sched_process_exec"])


def test_both_tracefs_sensors_say_why_they_are_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from detectors.sensors.tracefs_exec import TracefsExecSensor
    from detectors.sensors.tracefs_tcp import TcpStateSensor

    monkeypatch.setattr(tracefs.subprocess, "run", lambda *a, **k: type("R", (), {"stderr": "no permission"})())
    for sensor in (TcpStateSensor("run", tracefs=tmp_path), TracefsExecSensor(None, "run", root=tmp_path)):  # type: ignore[arg-type]
        sensor.start(lambda event: None)
        assert "no permission" in sensor.unavailable and not sensor.alive and sensor.stats["errors"] == 1
        sensor.stop()
