"""Alert sources: a followed JSON-lines file and the loopback HTTP receiver (a real server on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness.external.alert import AlertFormatError, ExternalAlert
from harness.external.sources import HttpReceiver, JsonLinesFile, SourceError, loopback_address


def parse(record: dict[str, Any], detector: str) -> ExternalAlert | None:
    """A stand-in format: {"rule", "time"}, {"skip": true} is a valid non-alert."""
    if record.get("skip"):
        return None
    if "rule" not in record:
        raise AlertFormatError("rule: missing")
    return ExternalAlert(detector=detector, rule=record["rule"], time=float(record.get("time", 0)))


def test_file_is_followed_line_by_line_and_a_partial_line_waits(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    source = JsonLinesFile(path, parse, "tool")
    source.start()
    assert source.poll() == []  # not there yet: the tool may create it later
    path.write_text('{"rule": "a", "time": 1}\n{"rule": "b"')
    assert [a.rule for a in source.poll()] == ["a"]
    with path.open("a") as handle:
        handle.write(', "time": 2}\n{"skip": true}\n')
    assert [a.rule for a in source.poll()] == ["b"]
    assert source.unreadable() == 0


def test_unterminated_last_line_is_read_at_finish(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text('{"rule": "a"}\n{"rule": "last"}')
    source = JsonLinesFile(path, parse, "tool")
    assert [a.rule for a in source.poll()] == ["a"]
    assert [a.rule for a in source.finish()] == ["last"]


def test_unreadable_lines_are_counted_with_their_place_and_do_not_stop_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text('not json\n{"rule": "a"}\n{"no": "rule"}\n[1]\n{"rule": "b"}\n')
    source = JsonLinesFile(path, parse, "tool")
    assert [a.rule for a in source.poll()] == ["a", "b"]
    assert source.unreadable() == 3
    problems = source.problems()
    assert problems[0].startswith(f"file:{path}:1: ")
    assert problems[1] == f"file:{path}:3: rule: missing"


def test_a_truncated_or_replaced_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text('{"rule": "a"}\n{"rule": "b"}\n')
    source = JsonLinesFile(path, parse, "tool")
    assert len(source.poll()) == 2
    path.write_text('{"rule": "c"}\n')  # truncated and rewritten: shorter than the offset read
    assert [a.rule for a in source.poll()] == ["c"]
    rotated = tmp_path / "new.jsonl"
    rotated.write_text('{"rule": "d"}\n{"rule": "e"}\n')
    rotated.replace(path)  # a new inode under the same name
    assert [a.rule for a in source.poll()] == ["d", "e"]


def _post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def receiver() -> Any:
    server = HttpReceiver(parse, "tool", max_body=4096, max_records=5)
    server.start()
    try:
        yield server
    finally:
        server.finish()


def test_receiver_takes_an_object_an_array_and_json_lines(receiver: HttpReceiver) -> None:
    url = f"http://127.0.0.1:{receiver.port}/falco"
    assert _post(url, b'{"rule": "one"}') == (200, {"accepted": 1})
    assert _post(url, b'[{"rule": "two"}, {"skip": true}]') == (200, {"accepted": 1})
    assert _post(url, b'{"rule": "three"}\n{"rule": "four"}\n') == (200, {"accepted": 2})
    assert [a.rule for a in receiver.poll()] == ["one", "two", "three", "four"]
    assert receiver.poll() == []


def test_receiver_refuses_big_and_broken_bodies_and_stops_taking_at_its_bound(receiver: HttpReceiver) -> None:
    url = f"http://127.0.0.1:{receiver.port}/"
    status, _ = _post(url, b'{"rule": "' + b"x" * 5000 + b'"}')
    assert status == 413
    assert _post(url, b"{broken")[0] == 400
    assert _post(url, json.dumps([{"rule": str(i)} for i in range(7)]).encode()) == (200, {"accepted": 5})
    assert len(receiver.poll()) == 5
    assert receiver.unreadable() == 3
    assert any("2 alerts dropped" in p for p in receiver.problems())


def test_receiver_serves_loopback_only_and_says_when_its_port_is_taken() -> None:
    for host in ("0.0.0.0", "198.18.0.1", "example.invalid"):
        with pytest.raises(SourceError, match="only a loopback address"):
            loopback_address(host)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SourceError, match=f"127.0.0.1:{taken.getsockname()[1]}"):
            HttpReceiver(parse, "tool", port=taken.getsockname()[1])


def test_finish_closes_the_port_and_hands_over_the_rest() -> None:
    server = HttpReceiver(parse, "tool")
    server.start()
    port = server.port
    assert _post(f"http://127.0.0.1:{port}/", b'{"rule": "late"}')[0] == 200
    assert [a.rule for a in server.finish()] == ["late"]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
