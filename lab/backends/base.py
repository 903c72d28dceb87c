"""The backend interface: every backend turns a WorkloadSpec into something running and back."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lab.networks import LabNetwork
    from lab.workload import WorkloadSpec


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    output: str


@dataclass(frozen=True, slots=True)
class DeployContext:
    run_id: str
    name: str  # the unique name the lab chose ("batch-3fa9c1")
    image: str  # the lab base image tag, used when the spec names none
    networks: dict[str, LabNetwork]  # lab network role -> network
    labels: dict[str, str] = field(default_factory=dict)  # bookkeeping labels to attach


@dataclass(slots=True)
class Workload:
    """Something a backend runs: a container, a service or a pod."""

    id: str  # engine id: container id, service id, pod uid
    name: str
    kind: str  # "container" | "service" | "pod"
    backend: str
    addresses: dict[str, str] = field(default_factory=dict)  # network role -> address
    container_ids: list[str] = field(default_factory=list)  # the containers behind it, for attribution
    namespace: str = ""  # a Kubernetes object's namespace: tools that name a pod are placed by it and the name

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"


class Backend(Protocol):
    name: ClassVar[str]

    def deploy(self, spec: WorkloadSpec, ctx: DeployContext) -> Workload: ...

    def remove(self, workload: Workload) -> None: ...

    def exec(self, workload: Workload, command: list[str], *, detach: bool = False, user: str | None = None,
             privileged: bool = False, timeout: float = 120) -> ExecResult: ...


@runtime_checkable
class ClusterOps(Protocol):
    """What a backend that is a cluster offers beyond workloads (Kubernetes): objects of any kind,
    its own command line, and its nodes. ``Lab.apply``, ``Lab.kubectl`` and ``Lab.node_exec`` need a
    backend with these, and say so by name when the run's backend has none."""

    def apply_objects(self, manifests: list[dict[str, Any]], token: str | None = None) -> list[Workload]:
        """Create the objects (as ``token``'s identity when given); one tracked Workload each."""
        ...

    def cli(self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None) -> ExecResult:
        """Run the cluster's command line (kubectl) as the lab's admin (``input``: its standard input)."""
        ...

    def node_exec(self, node: str, command: list[str]) -> ExecResult:
        """Run a command on a node itself, outside the cluster."""
        ...

    def logs(self, workload: Workload) -> str:
        """What the cluster kept of a pod's output (its container log, as ``kubectl logs`` reads it)."""
        ...

    def namespace_of(self, workload: Workload) -> str:
        """The namespace a pod the backend deployed lives in."""
        ...

    def port_forward(self, workload: Workload, port: int, timeout: float = 20) -> AbstractContextManager[int]:
        """Forward a free loopback port of this machine to the pod's ``port`` (kubectl port-forward)
        while the context is open; the context's value is the local port."""
        ...
