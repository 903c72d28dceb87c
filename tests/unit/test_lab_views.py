"""The Lab façade's engine reads and changes, against a fake engine client (a unit-test boundary)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from lab import Lab, LabError, Logging, LogsUnavailable, Mount, Workload
from lab.backends.base import ClusterOps
from lab.backends.docker import DockerBackend
from lab.kind.provider import ClusterBackend
from lab.views import EngineViews


class FakeService:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def update(self, **changes: Any) -> None:
        self.updates.append(changes)


class FakeApi:
    def __init__(self, log_path: str = "") -> None:
        self.log_path = log_path

    def inspect_container(self, cid: str) -> dict[str, Any]:
        if cid == "gone":
            raise docker.errors.NotFound("no such container")
        return {"Id": cid, "LogPath": self.log_path}

    def inspect_service(self, sid: str) -> dict[str, Any]:
        return {"ID": sid, "Spec": {}}

    def logs(self, cid: str, stdout: bool, stderr: bool) -> bytes:
        if cid == "silent":
            raise docker.errors.APIError("configured logging driver does not support reading")
        return b"hello\n"


def views(base_url: str = "unix:///run/x/docker.sock", log_path: str = "", backend: str = "docker") -> EngineViews:
    service = FakeService()
    client = SimpleNamespace(api=FakeApi(log_path), services=SimpleNamespace(get=lambda sid: service))
    lab = EngineViews()
    lab._session = SimpleNamespace(engine=SimpleNamespace(client=client, base_url=base_url),  # type: ignore[assignment]
                                   backend_kind=backend)
    lab.service = service  # type: ignore[attr-defined]  # the test reads the recorded update back
    return lab


def container(cid: str) -> Workload:
    return Workload(id=cid, name=cid, kind="container", backend="docker")


def test_update_service_speaks_the_engines_language() -> None:
    lab = views()
    lab.update_service(Workload(id="s1", name="web", kind="service", backend="swarm"), env={"APP_VERSION": "1.1"},
                       replicas=2, logging=Logging(driver="none"), mounts=(Mount(source="/x", target="/data"),))
    update = lab.service.updates[0]  # type: ignore[attr-defined]
    assert update["env"] == ["APP_VERSION=1.1"]
    assert update["mode"]["replicated"]["Replicas"] == 2
    assert (update["log_driver"], update["log_driver_options"]) == ("none", {})
    assert update["mounts"][0]["Target"] == "/data" and update["mounts"][0]["Source"] == "/x"


def test_logs_and_their_absence() -> None:
    lab = views()
    assert lab.logs(container("c1")) == "hello\n"
    with pytest.raises(LogsUnavailable):
        lab.logs(container("silent"))


def test_log_path_only_when_the_file_is_on_this_host(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    assert views(log_path=str(log)).log_path(container("c1")) is None  # not there (a remote engine)
    log.write_text("{}\n")
    assert views(log_path=str(log)).log_path(container("c1")) == log


def test_inspect_names_what_the_engine_does_not_know() -> None:
    with pytest.raises(LabError, match="gone"):
        views().inspect("gone")
    assert views().inspect(Workload(id="s1", name="web", kind="service", backend="swarm"))["ID"] == "s1"


def test_engine_socket_only_for_a_unix_engine() -> None:
    assert views().engine_socket() == Path("/run/x/docker.sock")
    assert views(base_url="tcp://127.0.0.1:2375").engine_socket() is None


def lab_on(backend: Any) -> Lab:
    lab = Lab.__new__(Lab)  # the cluster operations read only the session's backend
    lab._session = SimpleNamespace(backend=backend)  # type: ignore[assignment]
    return lab


@pytest.mark.parametrize("call", [lambda lab: lab.node_exec("node-1", "true"), lambda lab: lab.kubectl("get", "ns"),
                                  lambda lab: lab.apply({"kind": "Namespace"})])
def test_cluster_operations_need_a_cluster_backend(call: Any) -> None:
    with pytest.raises(LabError, match="needs the kubernetes backend; this run uses docker"):
        call(lab_on(DockerBackend(SimpleNamespace())))


def test_node_exec_needs_a_cluster_the_lab_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOWAWAY_KUBECONFIG", "/somewhere/kubeconfig")
    backend = ClusterBackend(SimpleNamespace(), "run-1", SimpleNamespace())  # type: ignore[arg-type]
    assert isinstance(backend, ClusterOps)
    with pytest.raises(LabError, match="own kind cluster"):
        lab_on(backend).node_exec("node-1", "true")


def test_pod_log_file_names_the_node_and_the_kubelets_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from lab.backends.base import ExecResult

    monkeypatch.setenv("STOWAWAY_KUBECONFIG", "/somewhere/kubeconfig")
    backend = ClusterBackend(SimpleNamespace(), "run-1", SimpleNamespace())  # type: ignore[arg-type]
    pod = {"metadata": {"uid": "u-1"}, "spec": {"nodeName": "kind-worker2"},
           "status": {"containerStatuses": [{"name": "worker", "restartCount": 2}]}}
    asked: list[tuple[str, ...]] = []

    def cli(*args: str, **_: Any) -> ExecResult:
        asked.append(args)
        return ExecResult(exit_code=0, output=json.dumps(pod))

    monkeypatch.setattr(backend, "cli", cli)
    workload = Workload(id="u-1", name="w-1", kind="pod", backend="kubernetes", namespace="shop")
    assert lab_on(backend).pod_log_file(workload) == ("kind-worker2", "/var/log/pods/shop_w-1_u-1/worker/2.log")
    assert asked == [("get", "pod", "-n", "shop", "w-1", "-o", "json")]
    pod["spec"] = {}
    with pytest.raises(LabError, match="not running on a node"):
        lab_on(backend).pod_log_file(workload)


def test_objects_for_the_run_are_deleted_from_a_cluster_the_lab_did_not_make(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOWAWAY_KUBECONFIG", "/somewhere/kubeconfig")
    backend = ClusterBackend(SimpleNamespace(), "run-1", SimpleNamespace())  # type: ignore[arg-type]
    deleted: list[tuple[str, str, str | None]] = []
    monkeypatch.setattr(backend, "apply", lambda manifests: manifests)
    monkeypatch.setattr(backend, "delete", lambda kind, name, namespace=None: deleted.append((kind, name, namespace)))
    backend.apply_for_run([{"kind": "Namespace", "metadata": {"name": "stowaway-system"}},
                           {"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "stowaway-system"}}])
    backend.close()
    assert deleted == [("DaemonSet", "agent", "stowaway-system"), ("Namespace", "stowaway-system", None)]
    assert not backend.owns_cluster
