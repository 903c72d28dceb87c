"""The evidence bundle against a fake engine (the boundary: docker's API client), with hand-made events.

What is checked: one archive, named after the alert and the container, whose manifest's checksums
hold; the members' contents (logs, diff, process tree, dropped files' hashes, events, flows, the
sinkhole's lines for the container); gaps reported with reasons and told inherent or failed; and an
archive never left half-written when writing fails.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from detectors.sensors.packet_ring import PacketRing
from harness.response import evidence
from harness.response.evidence import EvidenceError, collect, read_members, verify
from harness.response.window import EventWindow
from tests.unit.test_response_window import exec_event, fim_event, flow_event, tcp_event

CID = "c0ffee" + "1" * 58
OTHER = "d" * 64
ADDRESS = "198.19.0.20"
SINK = "198.19.0.10"
PAYLOAD = b"#!/bin/sh\necho implant\n"
DIR_MODE = 1 << 31
DEVICE_MODE = (1 << 26) | (1 << 21)
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nsvc:x:1000:1000::/home/svc:/bin/sh\n"
ALERT = {"rule_id": "stowaway.net.egress-not-allowlisted", "object": f"container:{CID}", "first_seen": 100.0,
         "title": "egress"}


def _tar(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class _Untouchable:
    """A body that must never be read (the stat header already says to skip it)."""

    def __iter__(self) -> Any:
        raise AssertionError("the body of a skipped file was read")

    def close(self) -> None:
        pass


class FakeApi:
    """The calls ``collect`` makes on ``docker.APIClient``, answering from plain data."""

    def __init__(self, *, files: dict[str, bytes] | None = None, diff: list[dict[str, Any]] | None = None,
                 driver: str = "json-file", running: bool = True, gone: bool = False,
                 refuse: tuple[str, ...] = ()) -> None:
        self.files = {"/etc/passwd": PASSWD, **(files or {})}
        self.special = {"/tmp": DIR_MODE, "/dev/fuse0": DEVICE_MODE}
        self.changes = diff if diff is not None else []
        self.driver, self.running, self.gone, self.refuse = driver, running, gone, refuse
        self.archived: list[str] = []

    def _check(self, call: str) -> None:
        if self.gone:
            raise docker.errors.NotFound("No such container")
        if call in self.refuse:
            raise docker.errors.APIError(f"{call} refused", explanation=f"{call}: daemon says no")

    def inspect_container(self, cid: str) -> dict[str, Any]:
        self._check("inspect")
        assert CID.startswith(cid)
        return {"Id": CID, "Name": "/app-1", "Created": "2023-11-14T22:13:20.123456789Z",
                "Config": {"User": "svc", "Image": "lab/base"},
                "State": {"Running": self.running, "Status": "running" if self.running else "exited"},
                "HostConfig": {"LogConfig": {"Type": self.driver}},
                "NetworkSettings": {"Networks": {"inet": {"IPAddress": ADDRESS}, "lan": {"IPAddress": "198.18.0.5"}}}}

    def logs(self, cid: str, **_kw: Any) -> bytes:
        self._check("logs")
        if self.driver not in ("json-file", "local"):
            raise docker.errors.APIError("configured logging driver does not support reading")
        return b"2026-01-01T00:00:00Z started\n"

    def diff(self, cid: str) -> list[dict[str, Any]]:
        self._check("diff")
        return self.changes

    def top(self, cid: str, ps_args: str | None = None) -> dict[str, Any]:
        self._check("top")
        assert ps_args == evidence.PS_ARGS
        return {"Titles": ["PID", "PPID", "UID", "ELAPSED", "COMMAND"],
                "Processes": [["4100", "4000", "0", "30", "sleep infinity"],
                              ["4200", "4100", "1000", "3", "/tmp/payload --beacon 198.19.0.10"],
                              ["4300", "4200", "1000", "1", "python3 -c import socket"]]}

    def get_archive(self, cid: str, path: str) -> tuple[Any, dict[str, Any]]:
        self._check("archive")
        self.archived.append(path)
        if path in self.special:
            return _Untouchable(), {"name": path.rsplit("/", 1)[-1], "size": 0, "mode": self.special[path] | 0o755}
        if path not in self.files:
            raise docker.errors.NotFound(f"Could not find the file {path} in container {cid}")
        data = self.files[path]
        body: Any = _Untouchable() if len(data) > 1024 else iter([_tar(path.rsplit("/", 1)[-1], data)])
        return body, {"name": path.rsplit("/", 1)[-1], "size": len(data), "mode": 0o755, "linkTarget": ""}


class FakeClient:
    def __init__(self, api: FakeApi) -> None:
        self.api = api


def window_with_activity() -> EventWindow:
    window = EventWindow()
    for event in (exec_event(CID, at=100.0, exe="/data/bin/syncd", **{"process.executable_in_image": False}),
                  exec_event(CID, at=100.5, exe="/usr/bin/python3", **{"process.executable_in_image": True}),
                  tcp_event(CID, at=101.0), flow_event(CID, at=101.0), fim_event(CID, at=102.0),
                  exec_event(CID, at=50.0, exe="/bin/early"),  # before the window asked for
                  tcp_event(OTHER, at=101.0)):
        window.tap(event)
    return window


def standard_api(**kw: Any) -> FakeApi:
    files = {"/tmp/payload": PAYLOAD, "/data/bin/syncd": b"\x7fELF-dropped", "/var/cache/big.bin": b"x" * 4096}
    diff = [{"Path": "/tmp", "Kind": 0}, {"Path": "/tmp/payload", "Kind": 1}, {"Path": "/var", "Kind": 0},
            {"Path": "/var/cache", "Kind": 0}, {"Path": "/var/cache/big.bin", "Kind": 1},
            {"Path": "/dev/fuse0", "Kind": 1}, {"Path": "/etc/gone.conf", "Kind": 0},
            {"Path": "/root/.ash_history", "Kind": 2}]
    return FakeApi(files=files, diff=diff, **kw)


CREATED = 1_700_000_000.123456  # 2023-11-14T22:13:20.123456Z, the fake container's creation
SINKHOLE = [{"proto": "control", "port": 0, "peer": "", "head": "ready"},
            {"proto": "tcp", "port": 443, "peer": ADDRESS, "bytes": 80, "head": "GET /", "ts": CREATED + 5},
            # the same address, held by an earlier container before this one was created
            {"proto": "tcp", "port": 443, "peer": ADDRESS, "bytes": 80, "head": "GET /old", "ts": CREATED - 60},
            {"proto": "tcp", "port": 443, "peer": "198.19.0.99", "bytes": 80, "head": "GET /"}]


def ring_with_traffic() -> PacketRing:
    """Two frames of the container's (one in the window, one before it) and one of another address."""
    ring = PacketRing()
    for ts, src, dst in ((50.0, ADDRESS, SINK), (120.0, ADDRESS, SINK), (130.0, "198.19.0.99", SINK)):
        ring.add(ts, b"\x00" * 14 + f"{src}>{dst}".encode(), src, dst)
    return ring


def run(tmp_path: Path, api: FakeApi | None = None, window: EventWindow | None = None,
        **kw: Any) -> evidence.EvidenceBundle:
    kw.setdefault("sinkhole_records", SINKHOLE)
    kw.setdefault("packets", ring_with_traffic())
    kw.setdefault("addresses", (ADDRESS,))
    return collect(FakeClient(api or standard_api()), CID[:12], tmp_path,
                   window=window if window is not None else window_with_activity(), alert=ALERT, since=90.0,
                   until=200.0, proc=str(tmp_path / "no-proc"), max_file_bytes=1024, **kw)


def test_one_archive_named_after_the_alert_whose_manifest_checksums_hold(tmp_path):
    bundle = run(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == [bundle.path.name]
    assert re.fullmatch(rf"stowaway\.net\.egress-not-allowlisted-{CID[:12]}-\d+\.tar\.gz", bundle.path.name)
    assert verify(bundle.path) == []
    assert bundle.sha256 == hashlib.sha256(bundle.path.read_bytes()).hexdigest()
    with tarfile.open(bundle.path) as tar:
        names = tar.getnames()
    assert names[-1] == "manifest.json"
    assert set(names) == {"inspect.json", "logs.txt", "diff.json", "processes.json", "events.jsonl", "flows.json",
                          "dropped-files.json", "alert.json", "traffic.pcap", "sinkhole.jsonl", "indicators.json",
                          "manifest.json"}
    contents = read_members(bundle.path)
    assert [m.name for m in bundle.members] == names
    for member in bundle.members:
        assert hashlib.sha256(contents[member.name]).hexdigest() == member.sha256
    manifest = json.loads(contents["manifest.json"])
    assert manifest["container_id"] == CID and manifest["complete"] is True and manifest["missing"] == []
    assert bundle.complete and bundle.missing == []
    assert bundle.container_id == CID and bundle.size == bundle.path.stat().st_size
    assert json.loads(json.dumps(bundle.to_dict()))["indicators"] == bundle.indicators.to_dict()


def test_a_tampered_member_fails_verification(tmp_path):
    bundle = run(tmp_path)
    contents = read_members(bundle.path)
    contents["flows.json"] = b"[]"
    forged = tmp_path / "forged.tar.gz"
    with tarfile.open(forged, "w:gz") as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert verify(forged) == ["flows.json: size or sha256 differs from the manifest"]


def test_members_hold_what_the_engine_and_the_window_said(tmp_path):
    contents = read_members(run(tmp_path).path)
    assert json.loads(contents["inspect.json"])["Id"] == CID
    assert contents["logs.txt"].startswith(b"2026-01-01")
    assert {"path": "/tmp/payload", "kind": 1, "change": "added"} in json.loads(contents["diff.json"])
    events = [json.loads(line) for line in contents["events.jsonl"].splitlines()]
    assert [e["event.created"] for e in events] == [100.0, 100.5, 101.0, 101.0, 102.0]  # 50.0 is before `since`
    assert all(e["container.id"] == CID for e in events)
    flows = json.loads(contents["flows.json"])
    assert flows[0]["destination"] == f"{SINK}:443/tcp" and flows[0]["count"] == 1
    sinkhole = [json.loads(line) for line in contents["sinkhole.jsonl"].splitlines()]
    assert [(r["peer"], r["head"]) for r in sinkhole] == [(ADDRESS, "GET /")]
    assert json.loads(contents["alert.json"]) == ALERT


def test_the_process_tree_names_users_from_the_containers_own_passwd(tmp_path):
    processes = json.loads(read_members(run(tmp_path).path)["processes.json"])
    assert processes["source"] == "engine top"
    by_pid = {p["pid"]: p for p in processes["processes"]}
    assert by_pid[4100]["user"] == "root" and by_pid[4200]["user"] == "svc"
    assert by_pid[4200]["name"] == "payload" and by_pid[4200]["elapsed_s"] == 3
    (root,) = processes["tree"]
    assert root["pid"] == 4100
    assert root["children"][0]["pid"] == 4200 and root["children"][0]["children"][0]["pid"] == 4300


def test_dropped_files_are_hashed_and_the_rest_say_why_not(tmp_path):
    api = standard_api()
    bundle = run(tmp_path, api)
    dropped = json.loads(read_members(bundle.path)["dropped-files.json"])
    files = {f["path"]: f for f in dropped["files"]}
    assert files["/tmp/payload"] == {"path": "/tmp/payload", "change": "added", "size": len(PAYLOAD),
                                     "sha256": hashlib.sha256(PAYLOAD).hexdigest()}
    # Run from a volume (not in the diff): its process event says it is not in the image.
    assert files["/data/bin/syncd"]["change"] == "executed (not in the image)"
    assert files["/data/bin/syncd"]["sha256"] == hashlib.sha256(b"\x7fELF-dropped").hexdigest()
    assert "over the 1024-byte limit" in files["/var/cache/big.bin"]["skipped"]
    assert files["/dev/fuse0"]["skipped"] == "a pseudo-filesystem path"
    assert "gone" in files["/etc/gone.conf"]["skipped"]
    assert "/tmp" not in files and "/var/cache" not in files  # directories: parents of other entries
    assert "/root/.ash_history" not in files  # deleted
    assert "/tmp" not in api.archived and "/dev/fuse0" not in api.archived
    assert hashlib.sha256(PAYLOAD).hexdigest() in bundle.indicators.sha256


def test_a_device_is_judged_on_its_stat_and_never_read(tmp_path):
    api = FakeApi(diff=[{"Path": "/srv/fifo", "Kind": 1}])
    api.special["/srv/fifo"] = DEVICE_MODE
    dropped = json.loads(read_members(run(tmp_path, api, EventWindow()).path)["dropped-files.json"])
    assert dropped["files"][0]["skipped"] == "a device, not a regular file"


def test_the_engines_init_shim_is_not_hashed_as_a_dropped_file(tmp_path):
    """``--init`` bind-mounts docker-init over an empty placeholder in the writable layer: the diff says
    added, its exec event says not in the image, and the archive API reads the empty placeholder."""
    api = FakeApi(files={"/usr/sbin/docker-init": b""}, diff=[{"Path": "/usr/sbin/docker-init", "Kind": 1}])
    real = api.inspect_container
    api.inspect_container = lambda cid: {**real(cid), "HostConfig": {"Init": True, "LogConfig": {"Type": "local"}}}
    window = EventWindow()
    window.tap(exec_event(CID, at=100.0, exe="/usr/sbin/docker-init", **{"process.executable_in_image": False}))
    bundle = run(tmp_path, api, window)
    (entry,) = json.loads(read_members(bundle.path)["dropped-files.json"])["files"]
    assert entry["path"] == "/usr/sbin/docker-init" and "init shim" in entry["skipped"]
    assert "/usr/sbin/docker-init" not in api.archived


def test_the_file_limit_is_said(tmp_path):
    api = FakeApi(files={f"/tmp/f{i}": b"x" for i in range(5)}, diff=[{"Path": f"/tmp/f{i}", "Kind": 1}
                                                                        for i in range(5)])
    bundle = run(tmp_path, api, EventWindow(), max_files=2)
    contents = read_members(bundle.path)
    assert json.loads(contents["dropped-files.json"])["not_examined"] == 3
    manifest = json.loads(contents["manifest.json"])
    assert "dropped-files.json: 3 more files past the 2-file limit" in manifest["notes"]
    assert set(manifest["timings_s"]) >= {"inspect.json", "processes.json", "dropped-files.json"}


def test_no_logs_under_driver_none_is_said_and_is_not_a_failure(tmp_path):
    bundle = run(tmp_path, standard_api(driver="none"))
    assert read_members(bundle.path)["logs.txt"] == b"none kept (driver none)\n"
    assert bundle.missing == ["logs.txt: none kept (driver none)"]
    assert bundle.complete


def test_a_refused_member_is_missing_with_its_reason_and_the_bundle_incomplete(tmp_path):
    bundle = run(tmp_path, standard_api(refuse=("top", "diff")))
    assert "processes.json: not collected: APIError: top: daemon says no" in bundle.missing
    assert "diff.json: not collected: APIError: diff: daemon says no" in bundle.missing
    assert not bundle.complete
    contents = read_members(bundle.path)
    assert "processes.json" not in contents and "diff.json" not in contents
    manifest = json.loads(contents["manifest.json"])
    assert {"member": "diff.json", "reason": "not collected: APIError: diff: daemon says no",
            "inherent": False} in manifest["missing"]
    assert verify(bundle.path) == []


def test_a_stopped_container_has_no_processes_by_nature(tmp_path):
    bundle = run(tmp_path, standard_api(running=False))
    assert bundle.missing == ["processes.json: no processes: the container is exited"]
    assert bundle.complete


def test_a_vanished_container_still_gets_its_window_and_alert(tmp_path):
    bundle = run(tmp_path, standard_api(gone=True))
    contents = read_members(bundle.path)
    assert {"events.jsonl", "flows.json", "alert.json", "manifest.json"} <= set(contents)
    assert not bundle.complete
    assert all("the container is gone" in m or m.startswith(("logs.txt", "dropped-files.json", "processes.json",
                                                             "diff.json"))
               for m in bundle.missing)
    assert {m.split(":")[0] for m in bundle.missing} == {"inspect.json", "logs.txt", "diff.json", "processes.json",
                                                        "dropped-files.json"}
    assert bundle.container_id == CID  # the window knew the short id's container
    # Without the engine's addresses, the flows' source addresses still pick the sinkhole's lines; without
    # its creation time, an earlier holder's lines cannot be told apart, and the manifest says so.
    assert [json.loads(line)["head"] for line in contents["sinkhole.jsonl"].splitlines()] == ["GET /", "GET /old"]
    assert any(n.startswith("sinkhole.jsonl: the container's creation time is unknown")
               for n in json.loads(contents["manifest.json"])["notes"])


def test_the_pcap_slice_holds_the_containers_frames_in_the_window_only(tmp_path):
    bundle = run(tmp_path)
    pcap = read_members(bundle.path)["traffic.pcap"]
    assert pcap.count(f"{ADDRESS}>{SINK}".encode()) == 1 and b"198.19.0.99" not in pcap  # 120 s, not 50 s
    manifest = json.loads(read_members(bundle.path)["manifest.json"])
    assert f"traffic.pcap: 1 frame(s) from or to {ADDRESS}" in manifest["notes"]


def test_without_a_packet_capture_the_pcap_is_absent_by_nature(tmp_path):
    bundle = run(tmp_path, packets=None)
    assert bundle.missing == ["traffic.pcap: no packet capture ran beside this response"] and bundle.complete


def test_without_sinkhole_records_the_member_is_absent_by_nature(tmp_path):
    bundle = run(tmp_path, sinkhole_records=None)
    assert bundle.missing == ["sinkhole.jsonl: no sinkhole records were given"]
    assert bundle.complete


def test_two_bundles_in_the_same_second_never_overwrite_each_other(tmp_path, monkeypatch):
    monkeypatch.setattr(evidence.time, "time", lambda: 1_700_000_000.0)
    first, second = run(tmp_path), run(tmp_path)
    assert first.path != second.path and first.path.exists() and second.path.exists()
    assert second.path.name.endswith("-1700000000-2.tar.gz")


@pytest.mark.parametrize("where", ["member", "fsync"])
def test_an_archive_is_never_left_half_written(tmp_path, monkeypatch, where):
    if where == "member":
        real = evidence._add_member

        def failing(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
            if name == "events.jsonl":
                raise OSError(28, "No space left on device")
            real(tar, name, data, mtime)

        monkeypatch.setattr(evidence, "_add_member", failing)
    else:
        def no_fsync(_fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(evidence.os, "fsync", no_fsync)
    with pytest.raises(EvidenceError, match="could not write the evidence bundle"):
        run(tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither a bundle nor the temporary file


def test_an_interruption_mid_write_leaves_nothing_either(tmp_path, monkeypatch):
    def interrupted(*_a: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(evidence, "_add_member", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_processes_come_from_proc_when_the_engine_cannot_run_ps(tmp_path):
    proc = tmp_path / "proc"
    for pid, ppid, cgroup, cmd in ((1, 0, "0::/init.scope", b"/sbin/init\0"),
                                   (700, 1, f"0::/system.slice/docker-{CID}.scope", b"/tmp/payload\0-x\0"),
                                   (800, 1, "0::/system.slice/other.scope", b"bash\0")):
        d = proc / str(pid)
        d.mkdir(parents=True)
        (d / "cgroup").write_text(cgroup + "\n")
        (d / "stat").write_text(f"{pid} (x y) S {ppid} 0 0\n")
        (d / "status").write_text("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n")
        (d / "cmdline").write_bytes(cmd)
        (d / "comm").write_text("payload\n")
    api = standard_api(refuse=("top",))
    bundle = collect(FakeClient(api), CID, tmp_path / "out", window=EventWindow(), alert=ALERT, since=0.0,
                     proc=str(proc))
    processes = json.loads(read_members(bundle.path)["processes.json"])
    assert processes["source"] == "/proc"
    assert [(p["pid"], p["ppid"], p["user"], p["command"]) for p in processes["processes"]] == \
        [(700, 1, "svc", "/tmp/payload -x")]
    assert bundle.complete
