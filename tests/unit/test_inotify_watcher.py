"""The shared inotify loop, against the real kernel on a temporary directory."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from detectors.sensors import inotify as ino
from detectors.sensors.base import SensorStats


@pytest.fixture
def watcher(tmp_path: Path):
    stats = SensorStats()
    watcher = ino.Watcher(stats)
    watcher.add(str(tmp_path))
    yield watcher
    watcher.close()


def drain(watcher: ino.Watcher) -> list[ino.Change]:
    out: list[ino.Change] = []
    while batch := watcher.read():
        out.extend(batch)
    return out


def test_create_and_modify_name_the_file(watcher: ino.Watcher, tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    with open(tmp_path / "a", "a") as handle:
        handle.write("y")
    changes = drain(watcher)
    assert all(c.directory == str(tmp_path) and c.path == str(tmp_path / "a") for c in changes)
    masks = [c.mask for c in changes]
    assert masks[0] & ino.IN_CREATE and any(m & ino.IN_MODIFY for m in masks)
    assert any(m & ino.IN_CLOSE_WRITE for m in masks)


def test_a_rename_in_one_read_is_paired(watcher: ino.Watcher, tmp_path: Path) -> None:
    (tmp_path / "log").write_text("x")
    drain(watcher)
    os.rename(tmp_path / "log", tmp_path / "log.1")
    batch = watcher.read()
    moved_from = next(c for c in batch if c.mask & ino.IN_MOVED_FROM)
    moved_to = next(c for c in batch if c.mask & ino.IN_MOVED_TO)
    assert moved_from.cookie == moved_to.cookie != 0
    assert moved_from.moved_to == str(tmp_path / "log.1") and moved_to.moved_to is None


def test_a_move_out_of_the_watched_directories_has_no_target(watcher: ino.Watcher, tmp_path: Path,
                                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    (tmp_path / "log").write_text("x")
    drain(watcher)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.rename(tmp_path / "log", elsewhere / "log")
    [change] = watcher.read()
    assert change.mask & ino.IN_MOVED_FROM and change.moved_to is None


def test_batches_stop_with_the_event_and_yield_when_quiet(watcher: ino.Watcher) -> None:
    stop = threading.Event()
    seen = 0
    for batch in watcher.batches(stop, timeout=0.01):
        assert batch == []
        seen += 1
        if seen == 3:
            stop.set()
    assert seen == 3


def test_an_overflow_is_counted(tmp_path: Path) -> None:
    limit = Path("/proc/sys/fs/inotify/max_queued_events")
    if not limit.exists() or int(limit.read_text()) > 100_000:
        pytest.skip("the queue is too long to overflow quickly here")
    stats = SensorStats()
    watcher = ino.Watcher(stats)
    watcher.add(str(tmp_path))
    try:
        # Distinct names: the kernel folds an event identical to the one queued before it.
        for i in range(int(limit.read_text()) // 2 + 10):  # a create and a close-after-write each
            os.close(os.open(tmp_path / f"f{i}", os.O_CREAT | os.O_WRONLY, 0o600))
        changes = drain(watcher)
    finally:
        watcher.close()
    assert stats.overflows == 1 and len(changes) <= int(limit.read_text())  # the overflow is not a change


def _wait(condition, timeout: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    return bool(condition())


def test_the_log_sensor_on_its_thread_tells_rotation_from_truncation(tmp_path: Path) -> None:
    from detectors.sensors.container_logs import ContainerLogSensor

    log = tmp_path / "c-json.log"
    log.write_text("x" * 1000)
    sensor, out = ContainerLogSensor(), []
    sensor.start(out.append)
    try:
        sensor.follow(str(log), "c" * 64)
        os.rename(log, tmp_path / "c-json.log.1")
        log.write_text("")
        assert _wait(lambda: [e["event.action"] for e in out] == ["rotated"])
        assert out[0]["file.target.path"] == str(tmp_path / "c-json.log.1")
    finally:
        sensor.stop()
    assert not sensor.alive and set(sensor.stats) == {"emitted", "dropped", "errors", "overflows"}


def test_the_engine_config_sensor_reports_changed_keys(tmp_path: Path) -> None:
    from detectors.sensors.engine_config import EngineConfigSensor

    config = tmp_path / "daemon.json"
    config.write_text('{"debug": false}')
    sensor, out = EngineConfigSensor(config), []
    sensor.start(out.append)
    try:
        config.write_text('{"debug": false, "log-driver": "none"}')
        assert _wait(lambda: len(out) == 1)
    finally:
        sensor.stop()
    assert out[0]["engine.config.changed_keys"] == ["log-driver"] and out[0]["engine.config.log-driver"] == "none"
    assert set(sensor.stats) == {"emitted", "dropped", "errors"}


def test_the_engine_config_sensor_without_its_directory_is_unavailable(tmp_path: Path) -> None:
    from detectors.sensors.engine_config import EngineConfigSensor

    sensor = EngineConfigSensor(tmp_path / "absent" / "daemon.json")
    sensor.start(lambda event: None)
    assert "cannot watch" in sensor.unavailable and not sensor.alive and sensor.stats["errors"] == 1
    sensor.stop()
