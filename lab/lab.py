"""The lab: one run's substrate (``LabSession``) and the handle a scenario gets (``Lab``).

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
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from lab import containment, platform_networks
from lab import engine as engine_mod
from lab.backends.base import Backend, DeployContext, ExecResult, Workload
from lab.backends.docker import DockerBackend
from lab.backends.swarm import SwarmBackend, create_swarm_networks, ensure_swarm
from lab.bookkeeping import RUN_LABEL, RunRecord, new_run_id, reap, reap_tracefs
from lab.engine import Engine
from lab.errors import LabError
from lab.images import IMAGE_REPOSITORY, ImageRecipe, ensure_base_image, host_deb
from lab.networks import LabNetwork, create_lab_networks
from lab.paths import LabPaths
from lab.pipeline import BuildRecipe, ImagePipeline
from lab.views import EngineViews
from lab.workload import WorkloadSpec

SINKHOLE_PORTS = (80, 443, 4444, 8080)
SINKHOLE_HOST = 10  # the sinkhole is .10 of the lab internet
# What telemetry shows of the sinkhole: a neutral upstream service. Its container name, script and
# record file are seen by the sensors (destination container names, mounts, command lines), and a
# name saying "sinkhole" would tell a detector which traffic is the adversary's.
SINKHOLE_NAME = "upstream"
SINKHOLE_RECORD = "/var/log/upstream/received.jsonl"
KUBERNETES_BACKENDS = ("kubernetes", "kind")  # "kind" is the kubernetes backend on the run's own kind cluster


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    ports: tuple[int, ...]


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

    def cleanup(self, what: str, fn: Callable[[], None]) -> None:
        """Register an undo step. The runner runs them last-in-first-out, always."""
        with self._lock:
            self._cleanups.append((what, fn))

    def apply(self, *manifests: dict[str, Any], token: str | None = None) -> list[Workload]:
        """Kubernetes only: create cluster objects (RBAC, webhooks, controllers) from manifests.

        Each object is tracked (alerts are attributed by its uid) and deleted at cleanup. ``token``
        acts as another identity (a service account's bearer token) instead of the lab's admin.
        """
        backend = self._session.backend
        if not hasattr(backend, "apply_objects"):
            raise LabError(f"Lab.apply needs the kubernetes backend; this run uses {backend.name}")
        workloads = backend.apply_objects(list(manifests), token=token)
        for workload in workloads:
            with self._lock:
                self.workloads.append(workload)
            self.cleanup(f"delete {workload.ref}", functools.partial(backend.remove, workload))
        return workloads

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> ExecResult:
        """Kubernetes only: run kubectl against the run's cluster as the lab's admin."""
        backend = self._session.backend
        if not hasattr(backend, "run"):
            raise LabError(f"Lab.kubectl needs the kubernetes backend; this run uses {backend.name}")
        result = backend.run(*args, check=check, timeout=timeout)
        return ExecResult(exit_code=result.returncode, output=result.stdout + result.stderr)

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
        """Record an object the scenario created by other means (a service it made via the API)."""
        with self._lock:
            self.workloads.append(workload)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(interval)
        raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")

    def sinkhole_records(self, peer: str | None = None) -> list[dict[str, Any]]:
        return self._session.sinkhole_records(peer)

    # --- runner side ------------------------------------------------------------------------
    def object_refs(self) -> list[str]:
        """What this scope made: its workloads (alerts are attributed by these) and its host
        directories (``hostdir:<path>``, for the leftovers check; no alert names one)."""
        refs = []
        for workload in self.workloads:
            refs.append(workload.ref)
            refs.extend(f"container:{cid}" for cid in workload.container_ids if workload.kind != "container")
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


class LabSession:
    """One run's lab: engine lease, networks, sinkhole, guard rules, teardown."""

    def __init__(self, run_id: str | None = None, docker_host: str | None = None, paths: LabPaths | None = None,
                 backend: str = "docker") -> None:
        self.run_id = run_id or new_run_id()
        self.paths = paths or LabPaths.default()
        self.docker_host = docker_host
        self.backend_kind = backend
        self.prefix = f"stw-{self.run_id[-6:]}"
        self.engine: Engine
        self.backend: Backend
        self.image = ""
        self.pipeline: ImagePipeline
        self.networks: dict[str, LabNetwork] = {}
        self.sinkhole: Workload | None = None
        self.sinkhole_endpoint = Endpoint(address="", ports=SINKHOLE_PORTS)
        self.record = RunRecord(run_id=self.run_id, pid=0, started_at=time.time())
        self._guarded = False
        self._up = False
        self._swarm: SwarmBackend | None = None  # made on first use: a docker-only run never inits Swarm
        self._swarm_networks: dict[str, LabNetwork] = {}
        self._swarm_lock = threading.Lock()

    @property
    def host_root(self) -> Path:
        return self.paths.host_root / self.run_id

    def up(self) -> LabSession:
        """Bring the lab up. On any failure, what was made so far is torn down before raising."""
        import os

        self.engine = engine_mod.acquire(self.run_id, self.docker_host, self.paths)
        self._up = True
        try:
            self.record.pid = os.getpid()
            self.record.save(self.paths)
            reap(self.engine.client, self.paths, keep={self.run_id})
            self.backend = self._make_backend()
            self.image = ensure_base_image(self.engine)
            # The platform's pipeline imported the base image: it signs it like everything it builds,
            # and publishes its public key for the detectors.
            self.pipeline = ImagePipeline(self.engine, self.image)
            self.pipeline.sign(self.engine.client.api.inspect_image(self.image)["Id"], IMAGE_REPOSITORY)
            self.pipeline.publish_trust()
            self.networks = create_lab_networks(self.engine.client, self.run_id, self.prefix)
            platform_networks.publish(self.paths, self.networks.values())
            self._guarded = containment.install_guard(self.run_id)
            self._start_sinkhole()
            if self.backend_kind in KUBERNETES_BACKENDS:
                self.backend.start(self)  # type: ignore[attr-defined]  # a ClusterBackend here; only it has start()
        except BaseException:
            self.down(status="failed")
            raise
        return self

    def _make_backend(self) -> Backend:
        if self.backend_kind == "docker":
            return DockerBackend(self.engine.client)
        if self.backend_kind == "swarm":
            return self.swarm()
        if self.backend_kind in KUBERNETES_BACKENDS:
            from lab.kind.provider import ClusterBackend

            return ClusterBackend(self.engine, self.run_id, self.paths)
        raise LabError(f"unknown backend {self.backend_kind!r}: choose docker, swarm or kubernetes")

    def swarm(self) -> SwarmBackend:
        """The swarm backend on the lab engine, initialising Swarm (idempotent, locked) on first use.

        Raises:
            SwarmUnavailable: the engine cannot be a Swarm manager; the message says why.
        """
        with self._swarm_lock:
            if self._swarm is None:
                ensure_swarm(self.engine.client, self.paths)
                self._swarm = SwarmBackend(self.engine.client, self.paths)
            return self._swarm

    def swarm_networks(self) -> dict[str, LabNetwork]:
        backend = self.swarm()
        with self._swarm_lock:
            if not self._swarm_networks:
                self._swarm_networks = create_swarm_networks(backend.client, self.paths, self.run_id, self.prefix)
                platform_networks.publish(self.paths, self._swarm_networks.values(), orchestrated=True)
            return self._swarm_networks

    def backend_named(self, name: str | None) -> Backend:
        if name is None or name == self.backend.name:
            return self.backend
        if name == "docker":
            return DockerBackend(self.engine.client)
        if name == "swarm":
            return self.swarm()
        raise LabError(f"unknown backend {name!r}: choose docker or swarm")

    def _start_sinkhole(self) -> None:
        inet = self.networks["inet"]
        address = inet.host(SINKHOLE_HOST)
        # Mounted from a copy in the run's host directory: the source path of a bind mount is in the
        # container's inspect data, and the repository's path names the sinkhole.
        script = self.host_root / secrets.token_hex(4) / "server.py"
        script.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(__file__).parent / "assets" / "sinkhole_server.py", script)
        backend = DockerBackend(self.engine.client)  # the sinkhole is always a plain container
        ctx = DeployContext(run_id=self.run_id, name=f"{self.prefix}-{SINKHOLE_NAME}", image=self.image,
                            networks=self.networks, labels={RUN_LABEL: self.run_id})
        from lab.workload import Mount

        record_dir = SINKHOLE_RECORD.rsplit("/", 1)[0]
        spec = WorkloadSpec(
            role=SINKHOLE_NAME, networks=("inet",), ip={"inet": address},
            command=("sh", "-c", f"mkdir -p {record_dir} && exec python3 /opt/{SINKHOLE_NAME}/server.py "
                     f"--record {SINKHOLE_RECORD} --address {address}"),
            mounts=(Mount(source=str(script), target=f"/opt/{SINKHOLE_NAME}/server.py", read_only=True),),
        )
        self.sinkhole = backend.deploy(spec, ctx)
        self.sinkhole_endpoint = Endpoint(address=address, ports=SINKHOLE_PORTS)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(r.get("head") == "ready" for r in self.sinkhole_records()):
                return
            time.sleep(0.2)
        raise LabError("the sinkhole did not become ready within 20s")

    def sinkhole_records(self, peer: str | None = None) -> list[dict[str, Any]]:
        if self.sinkhole is None:
            return []
        result = DockerBackend(self.engine.client).exec(
            self.sinkhole, ["sh", "-c", f"cat {SINKHOLE_RECORD} 2>/dev/null || true"])
        records = []
        for line in result.output.splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if peer is None or record.get("peer") == peer:
                    records.append(record)
        return records

    def scope(self, name: str) -> Lab:
        return Lab(self, name)

    def down(self, status: str = "complete") -> list[str]:
        """Tear down everything this run made. Safe to call twice, and after a partial `up`."""
        if not self._up:
            return []
        self._up = False
        problems: list[str] = []
        try:
            if self._swarm is not None:
                self._swarm.close(self.run_id)  # services first, and wait for their tasks to go
            close = getattr(getattr(self, "backend", None), "close", None)
            if self.backend_kind in KUBERNETES_BACKENDS and close is not None:
                try:
                    close()  # kind's node carries no run label: delete the cluster before the reap
                except Exception as exc:  # report it, and still reap the rest
                    problems.append(f"cluster teardown: {exc}")
            reap(self.engine.client, self.paths, only={self.run_id})
            self.sinkhole = None
            leftovers = self.leftovers()
            if leftovers:
                problems.append(f"left behind after teardown: {leftovers}")
        except Exception as exc:  # the engine may be gone (stopped under us): host-side cleanup still runs
            problems.append(f"teardown could not reach the engine: {type(exc).__name__}: {exc}")
        finally:
            # Host-side objects need no engine: remove them whatever happened to it.
            platform_networks.withdraw(self.paths, [n.id for n in [*self.networks.values(),
                                                                   *self._swarm_networks.values()]])
            if self._guarded:
                containment.remove_guard(self.run_id)
            reap_tracefs(lambda run: run == self.run_id)
            shutil.rmtree(self.host_root, ignore_errors=True)
            self.record.status = status
            self.record.finished_at = time.time()
            self.record.notes.extend(problems)
            self.record.save(self.paths)
            engine_mod.release(self.engine, self.run_id)
        return problems

    def leftovers(self) -> dict[str, int]:
        client = self.engine.client
        flt: dict[str, str | list[str] | bool] = {"label": f"{RUN_LABEL}={self.run_id}"}
        counts = {
            "containers": len(client.containers.list(all=True, filters=flt, sparse=True)),
            "networks": len(client.networks.list(filters=flt)),
            "volumes": len(client.volumes.list(filters=flt)),
        }
        if self._swarm is not None:
            counts["services"] = len(client.services.list(filters=flt))
        return {k: v for k, v in counts.items() if v}

    def __enter__(self) -> LabSession:
        return self.up()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.down(status="complete" if exc_type is None else "failed")
