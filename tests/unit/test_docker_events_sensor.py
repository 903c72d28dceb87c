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


class SlowInspect:
    """inspect_container that takes ``slow_s`` for one container and no time for any other."""

    def __init__(self, slow_id: str, slow_s: float) -> None:
        self.slow_id, self.slow_s = slow_id, slow_s

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        if container_id == self.slow_id:
            time.sleep(self.slow_s)
        return {"Id": container_id, "Name": "/x", "Config": {"Labels": {}}, "HostConfig": {}, "State": {}}


def _container_event(action: str, cid: str, nano: int) -> dict[str, Any]:
    return {"Type": "container", "Action": action, "time": nano // 10**9, "timeNano": nano,
            "Actor": {"ID": cid, "Attributes": {"name": cid[:4], "image": "base"}}}


def test_a_slow_inspect_does_not_hold_other_containers_and_each_keeps_its_order() -> None:
    import detectors.sensors.docker_events as module

    slow, fast = "a" * 64, "b" * 64
    # the two must take different lanes for the point to hold; find ids that do in this process
    while hash(slow) % module.LANES == hash(fast) % module.LANES:
        fast = fast[1:] + "c"
    raws = [_container_event("create", slow, 1), _container_event("start", slow, 2),
            _container_event("create", fast, 3), _container_event("start", fast, 4),
            _container_event("die", slow, 5)]
    client = Client(raws)
    client.api = SlowInspect(slow, 0.5)  # type: ignore[attr-defined]
    sensor = DockerEventsSensor(client)  # type: ignore[arg-type]
    out: list[tuple[str, str, float]] = []
    sensor.start(lambda e: out.append((e["container.id"], e["event.action"], time.monotonic())))
    deadline = time.monotonic() + 5
    while len(out) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    sensor.stop()
    order = [(cid, action) for cid, action, _ in out]
    assert [a for c, a in order if c == slow] == ["create", "start", "die"]
    assert [a for c, a in order if c == fast] == ["create", "start"]
    # the fast container's events left before the slow one's first inspect finished
    assert order.index((fast, "start")) < order.index((slow, "create"))
