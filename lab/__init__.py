"""The lab: a private Docker engine, offline images, internal lab networks, and backends.

The lab knows nothing of scenarios or detectors. Scenarios receive a ``Lab`` (one scope of a run)
and deploy ``WorkloadSpec``s through it.
"""

from lab.backends.base import ExecResult, Workload
from lab.backends.swarm import SwarmUnavailable
from lab.engine import Engine
from lab.engine_config import EngineConfig, EngineNotPrivate
from lab.errors import EngineUnavailable, LabError
from lab.lab import Endpoint, Lab, LabSession
from lab.networks import LAB_RANGE, LabNetwork
from lab.pipeline import BuildRecipe
from lab.views import LogsUnavailable, SwarmNode
from lab.workload import Logging, Mount, Resources, UnsupportedWorkload, WorkloadSpec

__all__ = [
    "LAB_RANGE",
    "BuildRecipe",
    "Endpoint",
    "Engine",
    "EngineConfig",
    "EngineNotPrivate",
    "EngineUnavailable",
    "ExecResult",
    "Lab",
    "LabError",
    "LabNetwork",
    "LabSession",
    "Logging",
    "LogsUnavailable",
    "Mount",
    "Resources",
    "SwarmNode",
    "SwarmUnavailable",
    "UnsupportedWorkload",
    "Workload",
    "WorkloadSpec",
]
