"""kind's node containers carry kind's label, not ours: the reaper ties them to runs by cluster name."""

from __future__ import annotations

from lab.bookkeeping import KIND_CLUSTER_LABEL, RunRecord, _reap_kind_nodes
from lab.paths import LabPaths


class FakeContainer:
    def __init__(self, cluster: str) -> None:
        self.attrs = {"Labels": {KIND_CLUSTER_LABEL: cluster}}
        self.removed = False

    def remove(self, force: bool, v: bool) -> None:
        self.removed = True


class FakeContainers:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self._containers = containers

    def list(self, **_kwargs):
        return self._containers


class FakeClient:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers = FakeContainers(containers)


def test_only_the_doomed_runs_nodes_go(tmp_path):
    paths = LabPaths(state=tmp_path / "s", runtime=tmp_path / "r")
    paths.ensure()
    for run in ("20261129-100000-aaaaaa", "20261129-100000-bbbbbb"):
        RunRecord(run_id=run, pid=1, started_at=0).save(paths)
    dead, live, foreign = FakeContainer("stw-aaaaaa"), FakeContainer("stw-bbbbbb"), FakeContainer("someone-else")
    removed = _reap_kind_nodes(FakeClient([dead, live, foreign]), paths, lambda run: run.endswith("aaaaaa"))
    assert removed == 1
    assert dead.removed and not live.removed and not foreign.removed
