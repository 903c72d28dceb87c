"""The handle a scenario gets (``Lab``): one scope of a run's substrate (``lab.session.LabSession``).

``LabSession`` owns the engine lease, the run record, the lab networks, the sinkhole and the host
guard rules. ``Lab`` is one scenario's scope inside it: whatever the scenario creates through it is
recorded (so the harness can attribute alerts by object) and registered on a cleanup stack that the
runner unwinds last-in-first-out, whether the scenario passed, raised, or the run was interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import secrets
import shlex
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors

from lab.backends.base import ClusterOps, DeployContext, ExecResult, Workload
from lab.bookkeeping import RUN_LABEL
from lab.engine import Engine
from lab.errors import LabError
from lab.images import ImageRecipe, host_deb
from lab.networks import LabNetwork
from lab.pipeline import BuildRecipe
from lab.pod_hold import container_pid
from lab.views import EngineViews
from lab.waiting import poll
from lab.workload import WorkloadSpec

if TYPE_CHECKING:
    from lab.session import LabSession


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    ports: tuple[int, ...]


PLANTED_KINDS = ("destination", "sha256", "process")


@dataclass(slots=True)
class ActionMark:
    at: float
    note: str


class Lab(EngineViews):
    """One scenario's view of the lab. Scenarios only ever talk to this (reads of the engine and
    orchestrator beneath it are in ``lab.views``)."""

    def __init__(self, session: LabSession, scope: str) -> None:
        self._session = session
        self.scope = scope  # the harness's name for this scope (logs, bookkeeping); never on the host
        # The scope's host directories live under a random name: the scope name is the scenario id,
        # and a host path is telemetry (mount sources, FIM paths, command lines).
        self.host_key = secrets.token_hex(4)
        self.host_dirs: list[Path] = []
        self.started_at = time.time()
        self.actions: list[ActionMark] = []
        self.planted: list[tuple[str, str]] = []  # (kind, value): see plant()
        self.workloads: list[Workload] = []
        self._cleanups: list[tuple[str, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self._own_networks: dict[str, LabNetwork] = {}  # networks this scope made itself, by name

    # --- what a scenario reads ------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        return self._session.engine

    @property
    def backend_name(self) -> str:
        return self._session.backend.name

    @property
    def image(self) -> str:
        return self._session.image

    @property
    def networks(self) -> dict[str, LabNetwork]:
        return self._session.networks

    @property
    def sinkhole(self) -> Endpoint:
        return self._session.sinkhole_endpoint

    # --- what a scenario does ---------------------------------------------------------------
    def name(self, role: str) -> str:
        """A unique, neutral object name: the role stem plus random hex."""
        return f"{role}-{secrets.token_hex(3)}"

    def deploy(self, spec: WorkloadSpec, name: str | None = None, backend: str | None = None,
               network_scope: str | None = None) -> Workload:
        """Run ``spec`` on the session's backend, or on ``backend`` ("docker" or "swarm") when given.

        ``network_scope="swarm"`` resolves the spec's network roles to the run's swarm overlays even
        for a plain container (a container attached by hand next to the services).

        Raises:
            SwarmUnavailable: Swarm is needed and the engine cannot be a Swarm manager.
        """
        chosen = self._session.backend_named(backend)
        swarm_scoped = chosen.name == "swarm" or network_scope == "swarm"
        networks = self._session.swarm_networks() if swarm_scoped else {**self.networks, **self._own_networks}
        ctx = DeployContext(run_id=self._session.run_id, name=name or self.name(spec.role), image=self.image,
                            networks=networks, labels={RUN_LABEL: self._session.run_id})
        workload = chosen.deploy(spec, ctx)
        with self._lock:
            self.workloads.append(workload)
        self.cleanup(f"remove {workload.ref}", lambda: chosen.remove(workload))
        return workload

    def create_network(self, name: str) -> str:
        """Create a network as anyone holding the engine socket can: an internal bridge called
        ``name``, whose id and subnet the engine picks (from its pool inside the lab range). The
        platform did not make it, so its network inventory does not list it. Returns ``name``, which
        this scope's ``deploy`` accepts as a network role. Removed at cleanup.

        Raises:
            LabError: the engine refused to create it.
        """
        client = self._session.engine.client
        try:
            network = client.networks.create(name, driver="bridge", internal=True,
                                             labels={RUN_LABEL: self._session.run_id})
            network.reload()
        except docker.errors.APIError as exc:
            raise LabError(f"could not create network {name}: {exc}") from exc
        self.cleanup(f"remove network {name}", lambda: _remove_network(network))
        configs = (network.attrs.get("IPAM") or {}).get("Config") or []
        subnet = next((c["Subnet"] for c in configs if c.get("Subnet")), None)
        if subnet is None:
            raise LabError(f"the engine gave network {name} no subnet")
        with self._lock:
            self._own_networks[name] = LabNetwork.of(name, network, ipaddress.IPv4Network(subnet))
        return name

    def swarm_networks(self) -> dict[str, LabNetwork]:
        """This run's swarm-scoped (overlay, internal, attachable) networks by role; inits Swarm if needed."""
        return self._session.swarm_networks()

    def platform_image(self, recipe: BuildRecipe, keep: bool = True) -> str:
        """The platform's image pipeline builds ``recipe`` (BuildKit, no network) and signs it, the way
        a platform team ships its own images. Cached by recipe across runs; ``keep=False`` (a recipe
        made for this run only) removes the image and its signature at cleanup. Returns the reference.

        Raises:
            LabError: the build failed; the message carries its output.
        """
        pipeline = self._session.pipeline
        built = pipeline.build_signed(recipe)
        if not keep:
            self.cleanup(f"discard image {built.reference}", lambda: pipeline.discard(built))
        backend = self._session.backend
        if getattr(backend, "owns_cluster", False):  # the run's kind cluster: its nodes pull nothing
            backend.load_image(built.reference)  # type: ignore[attr-defined]  # a ClusterBackend here
        return built.reference

    def platform_base(self, recipe: ImageRecipe) -> str:
        """The platform's pipeline imports a Debian root filesystem made offline from ``recipe``
        (debootstrap, cached by recipe) as ``recipe.repository`` and signs it, as it does the lab base
        image. Kept across runs. Returns the reference, for a ``BuildRecipe`` to build FROM.

        Raises:
            LabError: debootstrap or the import failed; the message carries their output.
        """
        return self._session.pipeline.import_signed(recipe).reference

    def host_deb(self, package: str) -> Path:
        """A Debian package's ``.deb`` fetched on the host (never in a build step, which has no
        network), cached, for a platform build to ``COPY`` and ``dpkg -i``.

        Raises:
            LabError: not a package name, or the download failed.
        """
        return host_deb(self.engine, package)

    def create_volume(self, name: str) -> str:
        """A named volume on the engine, carrying the run label (so the reaper finds it), removed
        at cleanup. Returns ``name``, for a ``Mount(type="volume", source=name)``.

        Raises:
            LabError: the engine refused to create it.
        """
        client = self._session.engine.client
        try:
            volume = client.volumes.create(name, labels={RUN_LABEL: self._session.run_id})
        except docker.errors.APIError as exc:
            raise LabError(f"could not create volume {name}: {exc}") from exc

        def remove() -> None:
            with contextlib.suppress(docker.errors.NotFound):
                volume.remove(force=True)
        self.cleanup(f"remove volume {name}", remove)
        return name

    def build_image(self, recipe: BuildRecipe, tag: str | None = None) -> str:
        """Build ``recipe`` on the engine's host, as anyone holding the engine socket can: BuildKit, no
        network, any tag (``tag``, else the recipe's repository with a random tag), and no signature.
        The image is removed at cleanup. Returns the reference.

        Raises:
            LabError: the build failed; the message carries its output.
        """
        pipeline = self._session.pipeline
        built = pipeline.build_unsigned(recipe, tag)
        self.cleanup(f"remove image {built.reference}", lambda: pipeline.remove(built.reference))
        return built.reference

    def image_id(self, reference: str) -> str:
        """The id of the image ``reference`` names on the engine.

        Raises:
            LabError: no such image.
        """
        try:
            return str(self._session.engine.client.api.inspect_image(reference)["Id"])
        except docker.errors.ImageNotFound as exc:
            raise LabError(f"no image {reference!r} on the engine") from exc

    def exec(self, workload: Workload, *command: str, detach: bool = False, user: str | None = None,
             privileged: bool = False, check: bool = True, timeout: float = 120) -> ExecResult:
        backend = self._session.backend_named(workload.backend)
        result = backend.exec(workload, list(command), detach=detach, user=user, privileged=privileged,
                              timeout=timeout)
        if check and not detach and result.exit_code != 0:
            raise LabError(f"`{' '.join(command)}` in {workload.name} exited {result.exit_code}: "
                           f"{result.output[-500:]}")
        return result

    def action(self, note: str) -> float:
        """Record the decisive moment; detection latency is measured from the first one."""
        mark = ActionMark(at=time.time(), note=note)
        self.actions.append(mark)
        return mark.at

    def plant(self, kind: str, value: str) -> None:
        """Record an indicator this scope planted on purpose (``destination`` "ip:port/proto",
        ``sha256`` of a file it dropped, ``process`` path): what a responder's evidence must hold.
        Bookkeeping for the harness only, like ``action``; no sensor sees it."""
        if kind not in PLANTED_KINDS:
            raise LabError(f"Lab.plant: kind {kind!r} is not one of {', '.join(PLANTED_KINDS)}")
        with self._lock:
            self.planted.append((kind, value))

    def cleanup(self, what: str, fn: Callable[[], None]) -> None:
        """Register an undo step. The runner runs them last-in-first-out, always."""
        with self._lock:
            self._cleanups.append((what, fn))

    def apply(self, *manifests: dict[str, Any], token: str | None = None) -> list[Workload]:
        """Kubernetes only: create cluster objects (RBAC, webhooks, controllers) from manifests.

        Each object is tracked (alerts are attributed by its uid) and deleted at cleanup. ``token``
        acts as another identity (a service account's bearer token) instead of the lab's admin.
        """
        backend = self._cluster("Lab.apply")
        workloads = backend.apply_objects(list(manifests), token=token)
        for workload in workloads:
            with self._lock:
                self.workloads.append(workload)
            self.cleanup(f"delete {workload.ref}", functools.partial(self._session.backend.remove, workload))
        return workloads

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None) -> ExecResult:
        """Kubernetes only: run kubectl against the run's cluster as the lab's admin (``input``: what it
        reads on its standard input, for ``attach -i`` or ``create -f -``)."""
        return self._cluster("Lab.kubectl").cli(*args, check=check, timeout=timeout, input=input)

    def logs(self, target: Any) -> str:
        """What was kept of a workload's output: the engine's log of a container, the cluster's of a pod."""
        if isinstance(target, Workload) and target.kind == "pod":
            return self._cluster("Lab.logs").logs(target)
        return super().logs(target)

    def pod_log_file(self, target: Workload) -> tuple[str, str]:
        """Kubernetes only: (node, path on that node) of the file the kubelet has the runtime write the
        pod's first container's output to (``/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restarts>.log``).

        Raises:
            LabError: the run's backend is not a cluster, or the pod is not running on a node yet.
        """
        namespace, pod, node, first = self._pod_on_node(target, "Lab.pod_log_file")
        directory = f"/var/log/pods/{namespace}_{target.name}_{pod['metadata']['uid']}"
        return node, f"{directory}/{first['name']}/{int(first.get('restartCount') or 0)}.log"

    def _pod_on_node(self, target: Workload, what: str) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
        """(namespace, the pod as the API server has it, its node, its first container's status)."""
        cluster = self._cluster(what)
        namespace = target.namespace or cluster.namespace_of(target)
        pod = json.loads(cluster.cli("get", "pod", "-n", namespace, target.name, "-o", "json").output)
        node = (pod.get("spec") or {}).get("nodeName") or ""
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if not node or not statuses:
            raise LabError(f"pod {namespace}/{target.name} is not running on a node")
        return namespace, pod, node, statuses[0]

    def port_forward(self, target: Workload, port: int) -> AbstractContextManager[int]:
        """Kubernetes only: ``with lab.port_forward(pod, 8080) as local:`` reaches the pod's port at
        127.0.0.1:<local> on this machine, through the API server (kubectl port-forward), as an operator's
        laptop does; the forwarder stops when the block ends.

        Raises:
            LabError: the run's backend is not a cluster, or the forwarder did not start.
        """
        return self._cluster("Lab.port_forward").port_forward(target, port)

    def pod_file(self, target: Workload, path: str) -> str | None:
        """Kubernetes only: the text of a file inside a pod's first container (None: no such file), read
        on its node through the container's root as root on the node would: no exec into the pod (the
        API server is only asked where the pod runs), so checking a twin's progress raises nothing of
        its own.

        Raises:
            LabError: the run's backend is not a cluster the lab can enter, or the pod is not running.
        """
        namespace, _, node, first = self._pod_on_node(target, "Lab.pod_file")
        cluster = self._cluster("Lab.pod_file")
        container_id = str(first.get("containerID") or "").partition("://")[2]
        if not container_id:
            raise LabError(f"pod {namespace}/{target.name} is not running on a node")
        on_node = f"/proc/{container_pid(cluster, node, container_id)}/root/{path.lstrip('/')}"
        read = cluster.node_exec(node, ["sh", "-c", f"test -f {shlex.quote(on_node)} && cat {shlex.quote(on_node)}"])
        return read.output if read.exit_code == 0 else None

    def node_exec(self, node: str, *command: str) -> ExecResult:
        """Kubernetes only: run a command on a node itself, outside the cluster (kind: in the node container).

        Raises:
            LabError: the run's backend is not a cluster, it is one the lab cannot enter, or no such node.
        """
        return self._cluster("Lab.node_exec").node_exec(node, list(command))

    def _cluster(self, what: str) -> ClusterOps:
        backend = self._session.backend
        if not isinstance(backend, ClusterOps):
            raise LabError(f"{what} needs the kubernetes backend; this run uses {backend.name}")
        return backend

    def host_dir(self, name: str) -> Path:
        """A lab-owned host directory for this scope (stands in for host system paths). Its path is
        ``<lab state>/host/<run id>/<random>/<name>``: give it a name a real host would have."""
        path = self._session.host_root / self.host_key / name
        path.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self.host_dirs.append(path)

        def remove() -> None:
            shutil.rmtree(path, ignore_errors=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # the scope's own directory, once its last host dir is gone
        self.cleanup(f"remove host dir {path}", remove)
        return path

    def track(self, workload: Workload) -> None:
        """Record an object the scenario created by other means (a service it made via the API), or one
        it tampers with (an add-on it patches): alerts on it are attributed to the scenario. Nothing is
        deleted for it: a scenario registers its own cleanup, or undoes its change."""
        with self._lock:
            self.workloads.append(workload)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
        if not poll(predicate, timeout, interval):
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")

    def sinkhole_records(self, peer: str | None = None) -> list[dict[str, Any]]:
        return self._session.sinkhole_records(peer)

    # --- runner side ------------------------------------------------------------------------
    def object_refs(self) -> list[str]:
        """What this scope made: its workloads (alerts are attributed by these), a Kubernetes
        object's namespace and name (``k8sname:<kind>/<namespace>/<name>``, for tools that name pods
        rather than containers) and its host directories (``hostdir:<path>``, for the leftovers
        check; no alert names one)."""
        refs = []
        for workload in self.workloads:
            refs.append(workload.ref)
            refs.extend(f"container:{cid}" for cid in workload.container_ids if workload.kind != "container")
            if workload.namespace:  # other tools name a pod, or its controller's pods, by namespace and name
                refs.append(f"k8sname:{workload.kind}/{workload.namespace}/{workload.name}")
        refs.extend(f"hostdir:{path}" for path in self.host_dirs)
        return refs

    def unwind(self) -> list[str]:
        """Run every cleanup, last first. Returns the failures instead of stopping at the first."""
        failures = []
        while True:
            with self._lock:
                if not self._cleanups:
                    break
                what, fn = self._cleanups.pop()
            try:
                fn()
            except Exception as exc:  # a failed undo must not stop the others
                failures.append(f"{what}: {exc}")
        return failures


def _remove_network(network: Any) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        network.remove()
