"""The lab session's Kubernetes backend: a kind cluster of the run's own, or a cluster you name.

``STOWAWAY_KUBECONFIG`` set: the backend drives that cluster and creates nothing (the path for
users who outgrow one machine); ``STOWAWAY_K8S_AUDIT_LOG`` then names its API server's audit log
if the detectors should read it. Unset: the run gets a kind cluster on the lab engine from the
offline node image (``nox -s kind-image``), with its audit log in the run's state directory, the
lab base image loaded into the node, and a node leg on the lab internet for pods' egress.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors

from lab.backends.base import ExecResult, Workload
from lab.backends.docker import DockerBackend
from lab.backends.kubernetes import KubernetesBackend
from lab.engine import Engine
from lab.errors import LabError
from lab.kind.cluster import KindCluster, kubectl_binary
from lab.kind.nodeimage import assets_digest
from lab.kind.recipe import NodeRecipe
from lab.paths import LabPaths

if TYPE_CHECKING:
    from lab.session import LabSession


class NodeImageMissing(LabError):
    """The kind node image is not built on this engine (build it with `nox -s kind-image`)."""


def node_image(engine: Engine) -> str:
    """The node image tag for the current recipe. Raises NodeImageMissing when it is not built."""
    tag = os.environ.get("STOWAWAY_KIND_IMAGE") or NodeRecipe().tag(assets_digest())
    try:
        engine.client.images.get(tag)
    except docker.errors.ImageNotFound:
        raise NodeImageMissing(
            f"the kind node image {tag} is not built: run `nox -s kind-image` (first build: tens of "
            "minutes on two cores; then cached), or set STOWAWAY_KIND_IMAGE to a kindest/node image"
        ) from None
    return tag


class ClusterBackend(KubernetesBackend):
    """KubernetesBackend plus the cluster's lifecycle; ``start`` after the lab is up, ``close`` at teardown."""

    def __init__(self, engine: Engine, run_id: str, paths: LabPaths) -> None:
        kubeconfig = os.environ.get("STOWAWAY_KUBECONFIG", "")
        super().__init__(kubeconfig, _best_kubectl())
        self.engine = engine
        self.run_id = run_id
        self.paths = paths
        self.cluster: KindCluster | None = None
        audit = os.environ.get("STOWAWAY_K8S_AUDIT_LOG")
        self.audit_log: Path | None = Path(audit) if audit else None
        self.node_addresses: dict[str, str] = {}  # node -> its address on the lab internet
        self._loaded: set[str] = set()  # images loaded into the cluster's nodes
        self._load_lock = threading.Lock()
        self._run_objects: list[tuple[str, str, str | None]] = []  # (kind, name, namespace), by apply_for_run

    def start(self, session: LabSession) -> None:
        if self.kubeconfig:
            return
        image = node_image(self.engine)
        workdir = self.paths.state / "kind" / "clusters" / self.run_id
        self.cluster = KindCluster(self.engine, self.run_id, image, workdir)
        self.cluster.create()
        self.kubeconfig = str(self.cluster.kubeconfig)
        self.audit_log = self.cluster.audit_log
        self.cluster.load_image(session.image)
        self.node_addresses = self.cluster.connect(session.networks["inet"].name)  # node -> its inet address

    @property
    def owns_cluster(self) -> bool:
        """Is the cluster the run's own kind cluster (whose nodes the lab can enter and load images into)?"""
        return self.cluster is not None

    def load_image(self, tag: str) -> None:
        """Copy an image of the lab engine into every node of the run's cluster (offline)."""
        if self.cluster is None:
            raise LabError(f"cannot load {tag} into a cluster named by STOWAWAY_KUBECONFIG: its nodes pull "
                           "from whatever registry it uses")
        with self._load_lock:  # the same platform image, asked for by parallel scenarios, loads once
            if tag not in self._loaded:
                self.cluster.load_image(tag)
                self._loaded.add(tag)

    def apply_for_run(self, manifests: list[dict[str, Any]]) -> None:
        """Create objects the run needs for its whole length (the detectors' node agent). On the run's
        own cluster they go with it; on a cluster named by STOWAWAY_KUBECONFIG they are deleted at
        ``close``, last first."""
        for obj in self.apply(manifests):
            meta = obj["metadata"]
            self._run_objects.append((obj["kind"], meta["name"], meta.get("namespace")))

    def close(self) -> None:
        while self._run_objects and self.cluster is None:
            kind, name, namespace = self._run_objects.pop()
            with contextlib.suppress(LabError):
                self.delete(kind, name, namespace)
        if self.cluster is not None:
            cluster, self.cluster = self.cluster, None
            cluster.delete()
            shutil.rmtree(cluster.workdir, ignore_errors=True)

    # --- objects other than pods, for scenarios that change the cluster itself -------------------
    def apply_objects(self, manifests: list[dict[str, Any]], token: str | None = None) -> list[Workload]:
        backend = self if token is None else self.as_token(token)
        workloads = []
        for obj in backend.apply(manifests):
            meta = obj["metadata"]
            workload = Workload(id=meta["uid"], name=meta["name"], kind=obj["kind"].lower(), backend=self.name,
                                namespace=meta.get("namespace", ""))
            if meta.get("namespace"):
                self._namespaces[workload.id] = meta["namespace"]
            self._kinds[workload.id] = obj["kind"]
            workloads.append(workload)
        return workloads

    def cli(self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None) -> ExecResult:
        result = self.run(*args, check=check, timeout=timeout, input=input)
        return ExecResult(exit_code=result.returncode, output=result.stdout + result.stderr)

    def node_exec(self, node: str, command: list[str]) -> ExecResult:
        """kind's nodes are containers on the lab engine: the command runs in the node's container.
        A cluster the lab did not make (``STOWAWAY_KUBECONFIG``) has no node the lab can enter."""
        if self.cluster is None:
            raise LabError("Lab.node_exec needs the run's own kind cluster; a cluster named by "
                           "STOWAWAY_KUBECONFIG has no node the lab can enter")
        try:
            return DockerBackend(self.engine.client).exec(
                Workload(id=node, name=node, kind="container", backend="docker"), command)
        except docker.errors.NotFound as exc:
            raise LabError(f"no node container {node!r} in the run's kind cluster") from exc

    def remove(self, workload: Workload) -> None:
        kind = self._kinds.get(workload.id, "pod")
        namespace = self._namespaces.get(workload.id) if kind != "pod" else self.namespace_of(workload)
        self.delete(kind, workload.name, namespace)

    @property
    def _kinds(self) -> dict[str, str]:
        if not hasattr(self, "_kind_map"):
            self._kind_map: dict[str, str] = {}
        return self._kind_map

    def as_token(self, token: str) -> KubernetesBackend:
        """The same cluster, authenticated as a service account's bearer token (a pipeline's identity)."""
        view = json.loads(self.run("config", "view", "--raw", "--minify", "-o", "json").stdout)
        view["users"] = [{"name": "token", "user": {"token": token}}]
        for context in view.get("contexts", []):
            context["context"]["user"] = "token"
        fd, name = tempfile.mkstemp(prefix="kubeconfig-", suffix=".json")  # mode 0600
        with os.fdopen(fd, "w") as handle:
            json.dump(view, handle)
        return KubernetesBackend(name, self.kubectl)


def _best_kubectl() -> Path:
    """Prefer the kubectl built with the node image (same version as the cluster)."""
    try:
        return kubectl_binary()
    except LabError:
        return Path(shutil.which("kubectl") or "kubectl")
