"""Wire the detectors to a lab engine: which sensors, which rules, which policy."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from detectors.analytics import analytic_ids, default_analytics
from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, Monitor, load_rules
from detectors.policies import DEFAULT_POLICY_DIR, load_policy
from detectors.sensors.base import Sensor, SensorContext
from detectors.sensors.cgroup_resources import CgroupResourcesSensor
from detectors.sensors.container_fim import follow_container_files
from detectors.sensors.container_logs import ContainerLogSensor
from detectors.sensors.containers import ContainerDirectory
from detectors.sensors.docker_events import DockerEventsSensor
from detectors.sensors.engine_config import EngineConfigSensor
from detectors.sensors.fim import FimSensor
from detectors.sensors.nat import NatSensor
from detectors.sensors.netinventory import Inventory
from detectors.sensors.packets import PacketSensor
from detectors.sensors.process_stdio import ProcessStdioSensor
from detectors.sensors.procfs import ProcfsSensor
from detectors.sensors.swarm_state import SwarmStateSensor
from detectors.sensors.tracefs_exec import TracefsExecSensor
from detectors.sensors.tracefs_tcp import TcpStateSensor
from detectors.sigma.loader import rule_files
from lab import Engine, plugins

_MONITOR_NUMBERS = itertools.count(1)


def rule_dirs_or_default(rule_dirs: Sequence[Path]) -> list[Path]:
    """``rule_dirs`` when given (they replace the shipped rules); else the shipped rules plus the
    folders installed rule packs declare (``stowaway.rules`` entry points)."""
    return list(rule_dirs) or [DEFAULT_RULE_DIR, *(p.directory() for p in plugins.load("stowaway.rules"))]


def installed_sensors(context: SensorContext) -> list[Sensor]:
    """Sensors installed packages declare (``stowaway.sensors`` entry points), built with ``context``."""
    sensors = []
    for plugin in plugins.load("stowaway.sensors"):
        try:
            sensor = plugin.target(context)
        except Exception as exc:
            raise plugins.PluginError(f"{plugin.where()}: building the sensor failed: "
                                      f"{type(exc).__name__}: {exc}") from exc
        if not all(hasattr(sensor, attr) for attr in ("name", "start", "stop", "stats")):
            raise plugins.PluginError(f"{plugin.where()}: returned {type(sensor).__name__}, not a Sensor "
                                      "(name, start, stop, stats)")
        sensors.append(sensor)
    return sensors


def _rule_files_stamp(dirs: tuple[Path, ...]) -> tuple[tuple[str, int], ...]:
    """Which rule files there are and when each last changed: an edit between two calls reloads."""
    return tuple((str(f), f.stat().st_mtime_ns) for f in rule_files(dirs))


@functools.lru_cache(maxsize=8)
def _rule_ids(dirs: tuple[Path, ...], stamp: tuple[tuple[str, int], ...]) -> frozenset[str]:
    return frozenset(rule.rule_id for rule in load_rules(list(dirs)))


def known_detector_ids(rule_dirs: Sequence[Path] = ()) -> set[str]:
    """Every id an expectation may name: the Sigma rules' names plus the analytics' ids. The rules
    are parsed once per set of files (the CLI and the runner both ask before a run starts)."""
    dirs = tuple(rule_dirs_or_default(rule_dirs))
    return set(_rule_ids(dirs, _rule_files_stamp(dirs))) | analytic_ids()


def build_monitor(engine: Engine, rule_dirs: Sequence[Path] = (), policy_dirs: Sequence[Path] = (), *,
                  run_id: str) -> Monitor:
    """``run_id`` names the tracefs instances (``stowaway-<run id>-m<n>-...``): it must be the id of
    a run whose record says it is alive, or another run's reaper would take them for a dead run's.
    The ``m<n>`` part keeps two monitors of one run (a test building its own beside the session's)
    from sharing, and then removing, each other's instances."""
    tracefs_id = f"{run_id}-m{next(_MONITOR_NUMBERS)}"
    policy = load_policy([*(list(policy_dirs) or [DEFAULT_POLICY_DIR]), *published_policy_dirs(engine)])
    detection = DetectionEngine(load_rules(rule_dirs_or_default(rule_dirs)), policy, default_analytics(policy))
    # Container log files and the engine's daemon.json have sensors of their own below, which know
    # rotation from truncation and which settings changed: a plain FIM watch on them would only
    # duplicate that telemetry.
    sensors: list = [DockerEventsSensor(engine.client)]
    # Host sensors share one view of the engine's containers (a listing, then docker events).
    containers = ContainerDirectory(engine.client)
    sensors += [CgroupResourcesSensor(containers), TracefsExecSensor(containers, tracefs_id), ProcfsSensor(containers),
                FimSensor(follow=follow_container_files(containers))]
    # Runtime and orchestrator slice: swarm specs, stdio of containers' processes, rotation-aware
    # container logs, and the engine configuration's settings.
    sensors += [SwarmStateSensor(engine.client), ProcessStdioSensor(), ContainerLogSensor()]
    if engine.config_file:
        sensors.append(EngineConfigSensor(engine.config_file))
    # Network sensors share one CMDB view (address -> container) of the engine.
    inventory = Inventory(engine.client)
    sensors += [PacketSensor(engine.client, inventory=inventory), TcpStateSensor(tracefs_id, inventory),
                NatSensor(engine.client, inventory)]
    sensors += installed_sensors(SensorContext(engine.client, tracefs_id, engine.data_root))
    return Monitor(detection, sensors)


def published_policy_dirs(engine: Engine) -> list[Path]:
    """Policy the lab's build pipeline publishes (the approved base image id), when it has run."""
    published = engine.paths.published_policy
    return [published] if published.is_dir() and any(published.glob("*.yaml")) else []


def add_cluster_sensors(monitor: Monitor, session: Any, progress: Callable[[str], None] = print) -> None:
    """A Kubernetes run: follow its API server's audit log, when the backend knows where it is, and
    put the detectors' node agent on every node (node telemetry comes from the agent, not the host)."""
    backend = session.backend
    audit_log = getattr(backend, "audit_log", None)
    if audit_log is not None:
        from detectors.sensors.k8s_audit import K8sAuditSensor

        monitor.sensors.append(K8sAuditSensor(audit_log))
    if hasattr(backend, "owns_cluster"):
        from harness.node_agent import deploy_node_agent

        monitor.sensors.append(deploy_node_agent(session, progress))


def packet_ring(monitor: Monitor) -> Any | None:
    """The packet sensor's ring of recent frames (what a responder cuts a pcap slice from), or None
    when the monitor has no packet sensor."""
    return next((getattr(s, "ring", None) for s in monitor.sensors if getattr(s, "name", "") == "packets"), None)
