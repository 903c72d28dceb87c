"""A dead run's changes to the Swarm node's labels are undone by the reaper, not others' changes."""

from __future__ import annotations

from typing import Any

from lab import journal
from lab.bookkeeping import reap
from lab.paths import LabPaths


class FakeNode:
    def __init__(self, labels: dict[str, str]) -> None:
        self.attrs: dict[str, Any] = {"Spec": {"Role": "manager", "Labels": dict(labels)}}

    def update(self, spec: dict[str, Any]) -> None:
        self.attrs["Spec"] = spec


class FakeClient:
    def __init__(self, node: FakeNode) -> None:
        self.node = node
        self.nodes = self

    def get(self, node_id: str) -> FakeNode:
        return self.node


def paths(tmp_path) -> LabPaths:
    return LabPaths(state=tmp_path / "state", runtime=tmp_path / "run")


def test_a_dead_runs_label_is_restored_and_its_journal_goes(tmp_path):
    lab_paths = paths(tmp_path)
    node = FakeNode({"zone": "eu-1", "zone.vault": "vault-ab12cd"})
    journal.record_node_label(lab_paths, "run-1", "n1", "zone.vault", None, "vault-ab12cd")
    journal.record_node_label(lab_paths, "run-1", "n1", "zone", "eu-0", "eu-1")
    assert journal.undo(FakeClient(node), lab_paths, "run-1") == 2
    assert node.attrs["Spec"]["Labels"] == {"zone": "eu-0"} and node.attrs["Spec"]["Role"] == "manager"
    assert journal.journalled_runs(lab_paths) == []


def test_a_value_changed_since_by_someone_else_is_left_alone(tmp_path):
    lab_paths = paths(tmp_path)
    node = FakeNode({"zone.vault": "theirs"})
    journal.record_node_label(lab_paths, "run-1", "n1", "zone.vault", None, "vault-ab12cd")
    assert journal.undo(FakeClient(node), lab_paths, "run-1") == 0
    assert node.attrs["Spec"]["Labels"] == {"zone.vault": "theirs"}


def test_the_reaper_undoes_only_doomed_runs(tmp_path, monkeypatch):
    from lab import bookkeeping

    # The host's iptables rules and tracefs instances are not this test's: a run the temporary paths
    # do not know looks dead to them, and a live run on this machine would lose its guard rules
    # (measured: a lab container reached the host while the unit tests ran beside an integration run).
    monkeypatch.setattr(bookkeeping, "reap_iptables", lambda doomed: 0)
    monkeypatch.setattr(bookkeeping, "reap_orphaned_bridge_rules", lambda: 0)
    monkeypatch.setattr(bookkeeping, "reap_tracefs", lambda doomed: 0)
    lab_paths = paths(tmp_path)
    node = FakeNode({"a": "1", "b": "2"})
    journal.record_node_label(lab_paths, "dead", "n1", "a", None, "1")
    journal.record_node_label(lab_paths, "mine", "n1", "b", None, "2")

    class Client(FakeClient):
        def info(self) -> dict[str, Any]:
            return {}

        class _Empty:
            def list(self, **kwargs: Any) -> list:
                return []

        containers = networks = volumes = services = _Empty()

        class api:  # the SDK's attribute name
            @staticmethod
            def networks() -> list:
                return []

    report = reap(Client(node), lab_paths, keep={"mine"})
    assert report.node_labels == 1
    assert node.attrs["Spec"]["Labels"] == {"b": "2"}
    assert journal.journalled_runs(lab_paths) == ["mine"]


def test_engine_rules_naming_a_lab_bridge_that_is_gone_are_reaped(monkeypatch):
    """A fake iptables (a unit test's boundary): the engine's rules for a killed run's bridges go,
    those of a live run's bridge and everything else stay."""
    import subprocess
    from types import SimpleNamespace

    from lab import bookkeeping

    dump = "\n".join([
        "*filter",
        "-A FORWARD -i stw-cda905-lan -o stw-cda905-lan -j ACCEPT",  # its bridge is gone
        "-A FORWARD -i stw-abc123-lan -o stw-abc123-lan -j ACCEPT",  # a live run's bridge
        "-A FORWARD -i docker0 -o docker0 -j ACCEPT",
        "COMMIT",
    ])
    deleted = []

    def run(argv, **_):
        if argv[0] == "iptables-save":
            return SimpleNamespace(stdout=dump, returncode=0)
        deleted.append(argv)
        return SimpleNamespace(stdout="", returncode=0)

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(bookkeeping.os.path, "exists", lambda path: "stw-abc123" in path)
    assert bookkeeping.reap_orphaned_bridge_rules() == 1
    assert deleted == [["iptables", "-t", "filter", "-D", "FORWARD", "-i", "stw-cda905-lan", "-o", "stw-cda905-lan",
                        "-j", "ACCEPT"]]
