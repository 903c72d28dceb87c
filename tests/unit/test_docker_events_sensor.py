"""The docker events sensor on its thread, against a stand-in client: start waits for the stream, stop ends it."""

from __future__ import annotations

import threading
import time
from typing import Any

from detectors.sensors.docker_events import DockerEventsSensor


class Stream:
    def __init__(self, raws: list[dict[str, Any]]) -> None:
        self.raws = raws
        self.closed = threading.Event()

    def __iter__(self):
        yield from self.raws
        self.closed.wait()  # a live stream blocks until it is closed

    def close(self) -> None:
        self.closed.set()


class Client:
    def __init__(self, raws: list[dict[str, Any]]) -> None:
        self.streams = [Stream(raws)]

    def events(self, **_: Any) -> Stream:
        if len(self.streams) > 1 or self.streams[0].closed.is_set():
            raise ConnectionError("engine gone")
        return self.streams[0]


def test_events_flow_and_stop_ends_the_stream() -> None:
    raw = {"Type": "network", "Action": "connect", "time": 1, "timeNano": 1_000_000_000,
           "Actor": {"ID": "n" * 64, "Attributes": {"name": "lan", "container": "c" * 64}}}
    client = Client([raw])
    sensor = DockerEventsSensor(client)  # type: ignore[arg-type]
    out: list[dict] = []
    sensor.start(out.append)
    deadline = time.monotonic() + 5
    while not out and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    sensor.stop()
    assert time.monotonic() - started < 2 and not sensor.alive
    assert [(e["event.action"], e["network.name"], e["container.id"]) for e in out] == [("connect", "lan", "c" * 64)]
    assert sensor.stats == {"emitted": 1, "dropped": 0, "errors": 0, "task_claims": 0, "tasks_unverified": 0}
