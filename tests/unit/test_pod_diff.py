"""A pod container's diff and dropped files, read on its node: the node-side shell scripts run for real
here, on a real overlay-shaped tree (upper and lower directories, a whiteout made with mknod); only
the way in (kind's node_exec, the container's pid and mount table) is stood in for."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.response.evidence import MAX_FILE_BYTES
from harness.response.pod_diff import DIFF_LIMIT, PodFiles, diff_entry
from tests.unit.pod_tree import Node, overlay_tree


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return overlay_tree(tmp_path)


def test_the_upper_directory_is_the_diff_against_the_layers(node: Node) -> None:
    diff = PodFiles(node, "kind-worker", "c1").read_diff()
    assert sorted((e["path"], e["change"]) for e in diff) == [
        ("/etc", "modified"), ("/etc/motd", "deleted"), ("/etc/passwd", "modified"),
        ("/tmp", "added"), ("/tmp/kworker", "added")]


def test_dropped_files_are_hashed_as_the_container_sees_them(node: Node) -> None:
    files = PodFiles(node, "kind-worker", "c1")
    payload = files.hash_file("/tmp/kworker", MAX_FILE_BYTES)
    assert payload == {"size": 12, "sha256": hashlib.sha256(b"\x7fELF payload").hexdigest()}
    assert files.hash_file("/tmp/kworker", 4)["skipped"] == "12 bytes, over the 4-byte limit"
    assert files.hash_file("/tmp", MAX_FILE_BYTES)["skipped"] == "directory, not a regular file"
    assert files.hash_file("/tmp/nothing", MAX_FILE_BYTES) == {"skipped": "gone (removed after the diff was read)"}


@pytest.mark.parametrize(("line", "entry"), [
    ("A|regular file|0:0|/tmp/x", {"path": "/tmp/x", "kind": 1, "change": "added"}),
    ("C|character special file|0:0|/etc/motd", {"path": "/etc/motd", "kind": 2, "change": "deleted"}),
    ("A|character special file|1:3|/dev/null2", {"path": "/dev/null2", "kind": 1, "change": "added"}),
    ("cd: can't cd", None),
    ("A|regular file|0:0|relative", None),
])
def test_diff_entry(line: str, entry: dict | None) -> None:
    assert diff_entry(line) == entry


def test_a_long_diff_is_cut_and_says_so(node: Node) -> None:
    many = node.upper / "var" / "cache"
    many.mkdir(parents=True)
    for i in range(DIFF_LIMIT + 5):
        (many / f"f{i}").write_text("")
    files = PodFiles(node, "kind-worker", "c1")
    assert len(files.read_diff()) == DIFF_LIMIT
    assert files.notes == [f"diff.json: c1: the first {DIFF_LIMIT} entries only"]
