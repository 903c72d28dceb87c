"""The workload spec: one description of what to run, which every backend translates.

Docker turns it into a container, Swarm into a service, Kubernetes into a Pod. Fields a backend
cannot honour make it raise ``UnsupportedWorkload`` rather than silently run something else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lab.errors import LabError


class UnsupportedWorkload(LabError):
    """The backend cannot express this spec (for example host PID on a backend without it)."""


@dataclass(frozen=True, slots=True)
class Mount:
    source: str  # host path (bind) or volume name (volume)
    target: str  # path inside the workload
    read_only: bool = False
    type: Literal["bind", "volume", "tmpfs"] = "bind"


@dataclass(frozen=True, slots=True)
class Resources:
    cpus: float | None = None  # CPU limit in cores
    memory_bytes: int | None = None  # memory limit


@dataclass(frozen=True, slots=True)
class Logging:
    driver: str = "json-file"  # "json-file", "none", "local", ...
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    role: str  # a neutral, realistic name stem ("web", "batch", "agent"); the lab adds a random suffix
    command: tuple[str, ...] = ("sleep", "infinity")  # () runs the image's own command
    image: str | None = None  # None: the lab base image
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # workload labels a platform team would see
    networks: tuple[str, ...] = ("lan",)  # lab network roles: "lan", "dev", "inet"
    network_mode: str | None = None  # "host" or "none" instead of lab networks
    pid_mode: str | None = None  # "host" to share the host PID namespace
    ipc_mode: str | None = None
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    logging: Logging = field(default_factory=Logging)
    resources: Resources = field(default_factory=Resources)
    user: str | None = None
    workdir: str | None = None
    extra_hosts: dict[str, str] = field(default_factory=dict)
    dns: tuple[str, ...] = ()
    ip: dict[str, str] = field(default_factory=dict)  # fixed address per network role
    read_only_rootfs: bool = False
    constraints: tuple[str, ...] = ()  # schedule hints (swarm placement, node selectors)
    replicas: int = 1  # orchestrated backends only
