"""The docker backend: a WorkloadSpec becomes one plain container on the lab engine."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, ClassVar

import docker
import docker.errors
import docker.types

from lab.backends.base import DeployContext, ExecResult, Workload
from lab.errors import LabError
from lab.workload import UnsupportedWorkload, WorkloadSpec

if TYPE_CHECKING:
    from lab.networks import LabNetwork


class DockerBackend:
    name: ClassVar[str] = "docker"

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    def _create_kwargs(self, spec: WorkloadSpec, ctx: DeployContext) -> dict[str, Any]:
        mounts = [
            docker.types.Mount(target=m.target, source=m.source, type=m.type, read_only=m.read_only)
            for m in spec.mounts
        ]
        kwargs: dict[str, Any] = {  # docker-py's keyword arguments: one value type each
            "image": spec.image or ctx.image,
            "command": list(spec.command) or None,  # none given: the image's own command
            "name": ctx.name,
            "hostname": ctx.name,
            "detach": True,
            "environment": dict(spec.env),
            "labels": {**spec.labels, **ctx.labels},
            "privileged": spec.privileged,
            "cap_add": list(spec.cap_add) or None,
            "cap_drop": list(spec.cap_drop) or None,
            "mounts": mounts,
            "log_config": docker.types.LogConfig(type=spec.logging.driver, config=dict(spec.logging.options)),
            "pid_mode": spec.pid_mode,
            "ipc_mode": spec.ipc_mode,
            "user": spec.user,
            "working_dir": spec.workdir,
            "extra_hosts": dict(spec.extra_hosts) or None,
            "dns": list(spec.dns) or None,
            "read_only": spec.read_only_rootfs,
            "init": True,  # reap payload children: a zombie-filled container distorts process telemetry
        }
        if spec.resources.cpus:
            kwargs["nano_cpus"] = int(spec.resources.cpus * 1e9)
        if spec.resources.memory_bytes:
            kwargs["mem_limit"] = spec.resources.memory_bytes
        if spec.network_mode:
            kwargs["network_mode"] = spec.network_mode
        else:
            first = self._network(spec.networks[0], ctx)
            kwargs["network"] = first.name
        return kwargs

    def _network(self, role: str, ctx: DeployContext) -> LabNetwork:
        try:
            return ctx.networks[role]
        except KeyError as exc:
            raise UnsupportedWorkload(f"unknown lab network role {role!r}; known: {sorted(ctx.networks)}") from exc

    def deploy(self, spec: WorkloadSpec, ctx: DeployContext) -> Workload:
        if spec.replicas != 1:
            raise UnsupportedWorkload("the docker backend runs exactly one replica; use the swarm backend")
        kwargs = self._create_kwargs(spec, ctx)
        kwargs.pop("detach")
        if not spec.network_mode:
            # Create on the first lab network (with its fixed address, if any); the rest are joined
            # before start, so the payload never runs half-connected.
            first_role = spec.networks[0]
            if first_role in spec.ip:
                endpoint = self.client.api.create_endpoint_config(ipv4_address=spec.ip[first_role])
                kwargs["networking_config"] = {kwargs["network"]: endpoint}
        try:
            container = self.client.containers.create(**kwargs)
        except docker.errors.APIError as exc:
            raise LabError(f"could not create container {ctx.name}: {exc.explanation or exc}") from exc
        assert container.id is not None  # a created container has one; docker-py types it optional
        workload = Workload(id=container.id, name=ctx.name, kind="container", backend=self.name,
                            container_ids=[container.id])
        try:
            for role in spec.networks[1:] if not spec.network_mode else ():
                net = self.client.networks.get(self._network(role, ctx).id)
                net.connect(container, ipv4_address=spec.ip.get(role))
            container.start()
        except docker.errors.APIError as exc:
            self.remove(workload)
            raise LabError(f"could not start container {ctx.name}: {exc.explanation or exc}") from exc
        container.reload()
        for role, lab_net in ctx.networks.items():
            settings = container.attrs["NetworkSettings"]["Networks"].get(lab_net.name)
            if settings and settings.get("IPAddress"):
                workload.addresses[role] = settings["IPAddress"]
        return workload

    def remove(self, workload: Workload) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(workload.id).remove(force=True, v=True)

    def exec(self, workload: Workload, command: list[str], *, detach: bool = False, user: str | None = None,
             privileged: bool = False, timeout: float = 120) -> ExecResult:
        container = self.client.containers.get(workload.id)
        if detach:
            container.exec_run(command, detach=True, user=user or "", privileged=privileged)
            return ExecResult(exit_code=0, output="")
        api = self.client.api
        exec_id = api.exec_create(container.id, command, user=user or "", privileged=privileged)["Id"]
        output = api.exec_start(exec_id, demux=False)
        deadline = time.monotonic() + timeout
        while True:
            info = api.exec_inspect(exec_id)
            if not info["Running"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        code = info["ExitCode"] if info["ExitCode"] is not None else -1
        return ExecResult(exit_code=code, output=(output or b"").decode(errors="replace"))

    def host_pid(self, workload: Workload) -> int:
        return int(self.client.containers.get(workload.id).attrs["State"]["Pid"])
