"""Rotation is told from deletion even when the rename's two inotify halves arrive apart."""

from __future__ import annotations

import os

from detectors.sensors import inotify as ino
from detectors.sensors.container_logs import ContainerLogSensor


def sensor_on(path: str) -> tuple[ContainerLogSensor, list[dict]]:
    out: list[dict] = []
    sensor = ContainerLogSensor()
    sensor._emit = out.append  # no thread: the test feeds inotify masks by hand
    sensor._notify = ino.Inotify()
    sensor.follow(path, "c" * 64)
    return sensor, out


def test_unpaired_move_of_a_rotated_log_is_rotation(tmp_path):
    log = tmp_path / "c-json.log"
    log.write_text("x" * 1000)
    sensor, out = sensor_on(str(log))
    os.rename(log, tmp_path / "c-json.log.1")  # what the json-file driver does when it rotates
    log.write_text("")
    sensor._changed(str(log), ino.IN_MOVED_FROM, None)  # its IN_MOVED_TO is still in the next read
    assert [e["event.action"] for e in out] == ["rotated"]
    sensor._notify.close()


def test_a_log_moved_out_of_the_way_is_not_rotation(tmp_path):
    log = tmp_path / "c-json.log"
    log.write_text("x" * 1000)
    sensor, out = sensor_on(str(log))
    os.rename(log, tmp_path / "elsewhere")
    sensor._changed(str(log), ino.IN_MOVED_FROM, None)
    assert [e["event.action"] for e in out] == ["deleted"]
    sensor._notify.close()
