"""The lab: a private Docker engine, offline images, internal lab networks, and backends.

The lab knows nothing of scenarios or detectors. This module is its whole public API:

- for scenarios, ``Lab`` (one scope of a run; engine reads in ``lab.views``) and the types they
  deploy and read (``WorkloadSpec``, ``Workload``, ``Mount``, ``Logging``, ...);
- for the harness, the run's substrate and its bookkeeping: ``LabSession``, ``LabPaths``,
  ``RunRecord``, the reaper, the engine lease helpers, the image recipes, and the names in
  ``lab.naming``; containment of a container by ref (``ContainmentRecord`` and the functions of
  ``lab.quarantine`` under names that say what they act on; ``LabSession`` offers the same), a
  ``ContainmentBook`` for a process with no run of its own (``watch_book``), and the lab internet
  of the run a workload belongs to (``lab_internet_of``).

Nothing outside ``lab`` imports ``lab.<module>`` except ``lab.naming`` and ``lab.provenance``, the
formats the detectors share (tests/unit/test_seams.py holds this).
"""

from lab.backends.base import ExecResult, Workload
from lab.backends.swarm import SwarmUnavailable
from lab.bookkeeping import RunRecord, live_run_ids, new_run_id, reap
from lab.containment_book import ContainmentBook, watch_book
from lab.engine import Engine, live_leases, stop_private
from lab.engine_config import EngineConfig, EngineNotPrivate
from lab.errors import EngineUnavailable, LabError
from lab.images import ImageRecipe, ensure_base_image
from lab.lab import Endpoint, Lab
from lab.lab_internet import LabInternet, lab_internet_of
from lab.naming import IPTABLES_COMMENT_PREFIX, RUN_LABEL, TRACEFS_INSTANCE_PREFIX
from lab.networks import LAB_RANGE, LabNetwork
from lab.paths import LabPaths
from lab.pipeline import BuildRecipe
from lab.platform_networks import read as read_platform_networks
from lab.pod_hold import container_pid as pod_container_pid
from lab.pod_hold import task_states as pod_task_states
from lab.provenance import signature_file
from lab.quarantine import HOLD_POD, HOLD_SERVICE, ContainmentRecord, can_connect
from lab.quarantine import pause as pause_container
from lab.quarantine import quarantine as quarantine_container
from lab.quarantine import release as release_containment
from lab.session import LabSession
from lab.views import LogsUnavailable, SwarmNode
from lab.waiting import poll
from lab.workload import Logging, Mount, Resources, UnsupportedWorkload, WorkloadSpec

__all__ = [
    "HOLD_POD",
    "HOLD_SERVICE",
    "IPTABLES_COMMENT_PREFIX",
    "LAB_RANGE",
    "RUN_LABEL",
    "TRACEFS_INSTANCE_PREFIX",
    "BuildRecipe",
    "ContainmentBook",
    "ContainmentRecord",
    "Endpoint",
    "Engine",
    "EngineConfig",
    "EngineNotPrivate",
    "EngineUnavailable",
    "ExecResult",
    "ImageRecipe",
    "Lab",
    "LabError",
    "LabInternet",
    "LabNetwork",
    "LabPaths",
    "LabSession",
    "Logging",
    "LogsUnavailable",
    "Mount",
    "Resources",
    "RunRecord",
    "SwarmNode",
    "SwarmUnavailable",
    "UnsupportedWorkload",
    "Workload",
    "WorkloadSpec",
    "can_connect",
    "ensure_base_image",
    "lab_internet_of",
    "live_leases",
    "live_run_ids",
    "new_run_id",
    "pause_container",
    "pod_container_pid",
    "pod_task_states",
    "poll",
    "quarantine_container",
    "read_platform_networks",
    "reap",
    "release_containment",
    "signature_file",
    "stop_private",
    "watch_book",
]
