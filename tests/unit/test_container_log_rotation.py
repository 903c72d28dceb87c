"""Rotation is told from deletion even when the rename's two inotify halves arrive apart."""

from __future__ import annotations

import os

from detectors.sensors import inotify as ino
from detectors.sensors.container_logs import ContainerLogSensor


def sensor_on(path: str) -> tuple[ContainerLogSensor, list[dict]]:
    out: list[dict] = []
    sensor = ContainerLogSensor()
    sensor._emit = out.append  # no thread: the test feeds inotify masks by hand
    sensor.open()
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
    sensor.close()


def test_a_log_moved_out_of_the_way_is_not_rotation(tmp_path):
    log = tmp_path / "c-json.log"
    log.write_text("x" * 1000)
    sensor, out = sensor_on(str(log))
    os.rename(log, tmp_path / "elsewhere")
    sensor._changed(str(log), ino.IN_MOVED_FROM, None)
    assert [e["event.action"] for e in out] == ["deleted"]
    sensor.close()



def recycled_rotation(tmp_path) -> tuple[ContainerLogSensor, list[dict], str]:
    """A 1000-byte log rotated to .1, the new file holding 10 bytes on the inode the sensor remembers:
    what a fast rotation looks like when the old .1's freed inode goes to the next file."""
    log = tmp_path / "c-json.log"
    log.write_text("x" * 1000)
    sensor, out = sensor_on(str(log))
    os.rename(log, tmp_path / "c-json.log.1")
    log.write_text("y" * 10)
    sensor._inodes[str(log)] = os.stat(log).st_ino  # the recycled inode
    return sensor, out, str(log)


def test_a_shrink_read_back_after_a_rotation_of_the_same_log_is_not_a_truncation(tmp_path):
    sensor, out, log = recycled_rotation(tmp_path)
    directory = str(tmp_path)
    batch = [ino.Change(directory, "c-json.log", ino.IN_MODIFY),
             ino.Change(directory, "c-json.log", ino.IN_MOVED_FROM, 7, moved_to=log + ".1"),
             ino.Change(directory, "c-json.log.1", ino.IN_MOVED_TO, 7),
             ino.Change(directory, "c-json.log", ino.IN_CREATE)]
    sensor._note_rotations(batch)  # the loop stamps rotations before it judges any write of the read
    sensor._changed(log, ino.IN_MODIFY, None)
    assert out == []
    sensor.close()


def test_without_the_rotation_the_same_shrink_is_a_truncation_once_its_wait_is_over(tmp_path):
    from detectors.sensors import container_logs

    sensor, out, log = recycled_rotation(tmp_path)
    sensor._changed(log, ino.IN_MODIFY, None)
    sensor._report_suspects(container_logs.time.monotonic())
    assert out == []  # held: the rename that would explain it may be in the next read
    sensor._report_suspects(container_logs.time.monotonic() + container_logs.SUSPECT_WAIT_S)
    assert [e["event.action"] for e in out] == ["truncated"]
    sensor.close()


def test_a_shrink_whose_rotation_arrives_in_the_next_read_is_not_a_truncation(tmp_path):
    """A busy queue: the write that shows the new small file is read before the rename that made it."""
    from detectors.sensors import container_logs

    sensor, out, log = recycled_rotation(tmp_path)
    directory = str(tmp_path)
    sensor._changed(log, ino.IN_MODIFY, None)  # read N: only the write
    sensor._note_rotations([ino.Change(directory, "c-json.log", ino.IN_MOVED_FROM, 7, moved_to=log + ".1"),
                            ino.Change(directory, "c-json.log", ino.IN_CREATE)])  # read N+1: the rotation
    sensor._report_suspects(container_logs.time.monotonic() + container_logs.SUSPECT_WAIT_S)
    assert out == []
    sensor.close()


def test_a_truncation_still_held_when_the_sensor_stops_is_reported(tmp_path):
    sensor, out, log = recycled_rotation(tmp_path)
    sensor._changed(log, ino.IN_MODIFY, None)
    sensor.close()
    assert [e["event.action"] for e in out] == ["truncated"]


def test_a_truncation_after_the_rotation_settled_is_judged(tmp_path, monkeypatch):
    from detectors.sensors import container_logs

    sensor, out, log = recycled_rotation(tmp_path)
    sensor._note_rotations([ino.Change(str(tmp_path), "c-json.log", ino.IN_CREATE)])
    later = container_logs.time.monotonic() + container_logs.ROTATION_SETTLE_S + 1
    monkeypatch.setattr(container_logs.time, "monotonic", lambda: later)
    sensor._sizes[log] = 10
    os.truncate(log, 0)
    sensor._changed(log, ino.IN_MODIFY, None)
    sensor._report_suspects(later + container_logs.SUSPECT_WAIT_S)
    assert [e["event.action"] for e in out] == ["truncated"]
    sensor.close()
