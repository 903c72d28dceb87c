"""The swarm backend: a WorkloadSpec becomes one Swarm service on the lab engine.

The lab engine becomes a single-node Swarm manager the first time a run asks for it (``ensure_swarm``).
Everything Swarm allocates stays in the lab range: the address pool (ingress and every overlay the
lab does not size itself) is 198.19.128.0/18, the gateway bridge is created by the lab beforehand
inside the engine's own pool with masquerading off, and the control plane listens on loopback only.

Services join per-run overlay networks (``create_swarm_networks``): swarm-scoped, ``internal`` (no
gateway bridge leg, so no route off the host) and ``attachable``, so that a plain container can be
attached too. The lab's bridge networks are local-scoped and a service cannot join them, so the
swarm networks are separate subnets with the same roles (``lan``, ``dev``, ``inet``). The sinkhole
is a plain container on the ``inet`` bridge and is not reachable from a service.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import time
from collections.abc import Iterator
from typing import ClassVar

import docker
import docker.errors
import docker.types

from lab.backends.base import DeployContext, ExecResult, Workload
from lab.backends.docker import DockerBackend
from lab.bookkeeping import RUN_LABEL
from lab.errors import LabError
from lab.networks import LabNetwork
from lab.paths import LabPaths
from lab.waiting import poll
from lab.workload import UnsupportedWorkload, WorkloadSpec

SWARM_POOL = "198.19.128.0/18"  # ingress and overlays; inside the lab range, clear of the run slots
SWARM_POOL_MASK = 24
GWBRIDGE = "docker_gwbridge"
GWBRIDGE_SUBNET = "198.19.191.0/24"  # last /24 of the swarm pool's range, never handed out below
SWARM_NET_SLOTS = range(129, 190)  # 198.19.<slot>.0/24 for per-run overlays (128 is ingress)
SWARM_ROLES = ("lan", "dev", "inet")
SERVICE_LABEL = "com.docker.swarm.service.id"


class SwarmUnavailable(LabError):
    """The lab engine cannot be (or is not) a Swarm manager; the message says why."""


@contextlib.contextmanager
def _swarm_lock(paths: LabPaths) -> Iterator[None]:
    # Parallel runs share one engine: initialising Swarm and picking overlay subnets must not race.
    paths.runtime.mkdir(parents=True, exist_ok=True)
    with open(paths.runtime / "swarm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _prepare_gwbridge(client: docker.DockerClient) -> None:
    """Create Swarm's gateway bridge ourselves (Docker documents this), without NAT or ICC."""
    with contextlib.suppress(docker.errors.NotFound):
        existing = client.networks.get(GWBRIDGE)
        options = existing.attrs.get("Options") or {}
        if options.get("com.docker.network.bridge.enable_ip_masquerade") == "false":
            return
        if existing.attrs.get("Containers"):
            return  # in use: leave it; the run's guard rules still drop anything leaving the range
        existing.remove()
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=GWBRIDGE_SUBNET)])
    client.networks.create(GWBRIDGE, driver="bridge", ipam=ipam, options={
        "com.docker.network.bridge.name": GWBRIDGE,
        "com.docker.network.bridge.enable_ip_masquerade": "false",
        "com.docker.network.bridge.enable_icc": "false",
    })


def ensure_swarm(client: docker.DockerClient, paths: LabPaths) -> str:
    """Make the lab engine a Swarm manager if it is not one yet; return the node id. Idempotent.

    Raises:
        SwarmUnavailable: the engine is in a swarm it does not manage, or ``swarm init`` failed.
    """
    with _swarm_lock(paths):
        state = client.info().get("Swarm") or {}
        if state.get("LocalNodeState") == "active":
            if not state.get("ControlAvailable"):
                raise SwarmUnavailable("the lab engine is a Swarm worker, not a manager: services cannot be made here")
            return str(state.get("NodeID"))
        if state.get("LocalNodeState") not in ("inactive", None):
            raise SwarmUnavailable(f"the lab engine's Swarm state is {state.get('LocalNodeState')!r}: "
                                   f"{state.get('Error')}")
        try:
            _prepare_gwbridge(client)
            client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377",
                              data_path_addr="127.0.0.1", default_addr_pool=[SWARM_POOL],
                              subnet_size=SWARM_POOL_MASK)
        except (docker.errors.APIError, TypeError) as exc:
            raise SwarmUnavailable(f"`swarm init` on the lab engine failed: {exc}") from exc
        return str(client.info()["Swarm"]["NodeID"])


def _used_subnets(client: docker.DockerClient) -> set[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    used = set()
    for network in client.networks.list():
        for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
            if config.get("Subnet"):
                used.add(ipaddress.ip_network(config["Subnet"], strict=False))
    return used


def create_swarm_networks(client: docker.DockerClient, paths: LabPaths, run_id: str,
                          prefix: str) -> dict[str, LabNetwork]:
    """One internal, attachable overlay per lab network role, for this run. Labelled for the reaper."""
    created: dict[str, LabNetwork] = {}
    with _swarm_lock(paths):
        used = _used_subnets(client)
        free = (ipaddress.IPv4Network(f"198.19.{slot}.0/24") for slot in SWARM_NET_SLOTS)
        for role in SWARM_ROLES:
            subnet = next((s for s in free if not any(s.overlaps(u) for u in used)), None)
            if subnet is None:
                raise LabError("no free /24 left for swarm networks in 198.19.129.0-189.0: run `stowaway reap`")
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])
            try:
                network = client.networks.create(f"{prefix}-{role}-overlay", driver="overlay", internal=True,
                                                 attachable=True, scope="swarm", ipam=ipam, labels={RUN_LABEL: run_id})
            except docker.errors.APIError as exc:
                raise LabError(f"could not create the swarm network for {role}: {exc}") from exc
            created[role] = LabNetwork.of(role, network, subnet)
            used.add(subnet)
    return created


class SwarmBackend:
    name: ClassVar[str] = "swarm"

    def __init__(self, client: docker.DockerClient, paths: LabPaths | None = None, ready_timeout: float = 60) -> None:
        self.client = client
        self.paths = paths or LabPaths.default()
        self.ready_timeout = ready_timeout

    # --- spec translation ---------------------------------------------------------------------
    def service_kwargs(self, spec: WorkloadSpec, ctx: DeployContext) -> dict[str, object]:
        """The keyword arguments of ``client.services.create`` for this spec. Raises UnsupportedWorkload."""
        if spec.privileged or spec.pid_mode or spec.ipc_mode or spec.network_mode:
            # Swarm services have no --privileged and no host namespaces (only plain containers do).
            raise UnsupportedWorkload("swarm services cannot be privileged or share host namespaces")
        if spec.ip:
            raise UnsupportedWorkload("swarm services get their addresses from the overlay's IPAM")
        networks = []
        for role in spec.networks:
            if role not in ctx.networks:
                raise UnsupportedWorkload(f"unknown swarm network role {role!r}; known: {sorted(ctx.networks)}")
            networks.append(ctx.networks[role].id)
        mounts = [docker.types.Mount(target=m.target, source=m.source, type=m.type, read_only=m.read_only)
                  for m in spec.mounts]
        resources = None
        if spec.resources.cpus or spec.resources.memory_bytes:
            resources = docker.types.Resources(
                cpu_limit=int(spec.resources.cpus * 1e9) if spec.resources.cpus else None,
                mem_limit=spec.resources.memory_bytes)
        return {
            "image": spec.image or ctx.image,
            "command": list(spec.command) or None,  # none given: the image's own command
            "name": ctx.name,
            "hostname": ctx.name,
            "env": [f"{k}={v}" for k, v in spec.env.items()],
            # Bookkeeping on the service (the reaper's handle) and on its task containers (so a
            # task that outlives its service is still reaped as a container).
            "labels": {**spec.labels, **ctx.labels},
            "container_labels": {**spec.labels, **ctx.labels},
            "mounts": mounts,
            "networks": networks,
            "mode": docker.types.ServiceMode("replicated", replicas=spec.replicas),
            "log_driver": spec.logging.driver,
            "log_driver_options": dict(spec.logging.options),
            "constraints": list(spec.constraints),
            "cap_add": list(spec.cap_add) or None,
            "cap_drop": list(spec.cap_drop) or None,
            "user": spec.user,
            "workdir": spec.workdir,
            "hosts": dict(spec.extra_hosts) or None,
            "dns_config": docker.types.DNSConfig(nameservers=list(spec.dns)) if spec.dns else None,
            "read_only": spec.read_only_rootfs or None,
            "resources": resources,
            "init": True,
            # A failed task must show as failed, not be retried into a loop that hides the error.
            "restart_policy": docker.types.RestartPolicy(condition="none"),
        }

    # --- lifecycle --------------------------------------------------------------------------
    def deploy(self, spec: WorkloadSpec, ctx: DeployContext) -> Workload:
        kwargs = self.service_kwargs(spec, ctx)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        image = kwargs.pop("image")
        command = kwargs.pop("command", None)
        try:
            service = self.client.services.create(image, command, **kwargs)
        except docker.errors.APIError as exc:
            raise LabError(f"could not create service {ctx.name}: {exc.explanation or exc}") from exc
        workload = Workload(id=service.id, name=ctx.name, kind="service", backend=self.name)
        try:
            self.wait_running(workload, spec.replicas)
        except LabError:
            self.remove(workload)
            raise
        self._fill_addresses(workload, ctx)
        return workload

    def tasks(self, workload: Workload) -> list[dict]:
        return self.client.api.tasks(filters={"service": workload.id})

    def wait_running(self, workload: Workload, replicas: int = 1, timeout: float | None = None) -> None:
        """Wait until ``replicas`` tasks of the service's current spec run; record their containers."""
        deadline = time.monotonic() + (timeout or self.ready_timeout)
        last = ""
        while time.monotonic() < deadline:
            current = [t for t in self.tasks(workload) if t.get("DesiredState") == "running"]
            running = [t for t in current if t["Status"]["State"] == "running"]
            for task in current:
                if task["Status"]["State"] in ("failed", "rejected"):
                    raise LabError(f"service {workload.name}: task {task['Status']['State']}: "
                                   f"{task['Status'].get('Err') or task['Status'].get('Message')}")
                last = task["Status"]["State"]
            if len(running) >= replicas:
                for task in running:
                    cid = task["Status"].get("ContainerStatus", {}).get("ContainerID")
                    if cid and cid not in workload.container_ids:
                        workload.container_ids.append(cid)
                return
            time.sleep(0.2)
        raise LabError(f"service {workload.name} did not get {replicas} running task(s) in time (last state {last!r})")

    def _fill_addresses(self, workload: Workload, ctx: DeployContext) -> None:
        if not workload.container_ids:
            return
        with contextlib.suppress(docker.errors.NotFound):
            attrs = self.client.api.inspect_container(workload.container_ids[0])
            for role, lab_net in ctx.networks.items():
                settings = (attrs["NetworkSettings"]["Networks"] or {}).get(lab_net.name)
                if settings and settings.get("IPAddress"):
                    workload.addresses[role] = settings["IPAddress"]

    def remove(self, workload: Workload, timeout: float = 30) -> None:
        """Remove the service and wait until its task containers are gone (so its networks can go)."""
        with contextlib.suppress(docker.errors.NotFound):
            self.client.api.remove_service(workload.id)
        # Sparse: a full listing inspects each container, and a task container that vanishes
        # between the list and the inspect (which is what we are waiting for) raises NotFound.
        if poll(lambda: not self.client.containers.list(
                all=True, filters={"label": f"{SERVICE_LABEL}={workload.id}"}, sparse=True), timeout):
            return
        for container in self.client.containers.list(all=True, filters={"label": f"{SERVICE_LABEL}={workload.id}"},
                                                     sparse=True):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)

    def _current_container(self, workload: Workload) -> str:
        for task in self.tasks(workload):
            if task.get("DesiredState") == "running" and task["Status"]["State"] == "running":
                cid = task["Status"].get("ContainerStatus", {}).get("ContainerID")
                if cid:
                    if cid not in workload.container_ids:
                        workload.container_ids.append(cid)
                    return str(cid)
        raise LabError(f"service {workload.name} has no running task to exec into")

    def exec(self, workload: Workload, command: list[str], *, detach: bool = False, user: str | None = None,
             privileged: bool = False, timeout: float = 120) -> ExecResult:
        """Exec into the service's running task container (the first one, for several replicas)."""
        task_container = Workload(id=self._current_container(workload), name=workload.name, kind="container",
                                  backend="docker")
        return DockerBackend(self.client).exec(task_container, command, detach=detach, user=user,
                                               privileged=privileged, timeout=timeout)

    def close(self, run_id: str) -> None:
        """Remove every service of this run and wait for its tasks, so the run's overlays can go."""
        with contextlib.suppress(docker.errors.APIError):
            for service in self.client.services.list(filters={"label": f"{RUN_LABEL}={run_id}"}):
                assert service.id is not None  # a listed service has one; docker-py types it optional
                self.remove(Workload(id=service.id, name=service.name, kind="service", backend=self.name))
        # The swarm allocator frees a network's endpoints a moment after the tasks are gone.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            left = [n for n in self.client.networks.list(filters={"label": f"{RUN_LABEL}={run_id}"})
                    if n.attrs.get("Scope") == "swarm"]
            if not left:
                return
            for network in left:
                with contextlib.suppress(docker.errors.APIError):
                    network.remove()
            time.sleep(0.5)
