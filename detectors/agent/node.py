"""The node agent: the detectors' sensors that need a node's own view, run on the node, shipping events.

A DaemonSet puts one agent on every node (privileged, in the node's PID namespace). It learns the
node's containers from containerd's task bundles (``detectors.sensors.containerd``) and runs the
sensors that read a container's processes, cgroups and files, which a harness on another machine (or
on the host of a kind cluster, whose nodes are containers with containerd inside) cannot enumerate:

- ``procfs``: processes whose executable was deleted after they started, and what they run;
- ``cgroup-resources``: CPU and memory of every container, from the node's cgroup files;
- ``fim``: each container's sensitive files (preload list, accounts, cron, SSH keys), from its start;
- ``container-logs``: each container's log file on the node (``/var/log/pods``), truncated or deleted
  under it, told from the kubelet's rotation.

It also reports containerd's own lifecycle facts (``containerd.task`` ``start``/``exit``), which the
FIM and log sensors follow to watch a new container's files. Events go to stdout as ``wire`` lines; rules and
analytics run in the harness's engine, with the host's policy. Nothing here decides anything.

What the agent does not run, and why: kernel exec and TCP tracepoints. tracefs reports the kernel's
global pid, and on a node that is itself a container (kind) the agent's /proc is a nested PID
namespace where those pids name other processes, or none; the host's tracefs sensor, which can
attribute them, keeps that telemetry there.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Any, TextIO

from detectors.agent import wire
from detectors.event import Event, new_event
from detectors.sensors.base import Observer
from detectors.sensors.cgroup_resources import CgroupResourcesSensor
from detectors.sensors.container_fim import follow_container_files
from detectors.sensors.container_logs import ContainerLogSensor
from detectors.sensors.containerd import ContainerdSource
from detectors.sensors.containers import ContainerDirectory, ContainerInfo
from detectors.sensors.fim import FimSensor
from detectors.sensors.procfs import ProcfsSensor

SYNC_INTERVAL_S = 0.5  # how often containerd's task list is read: a new container's watches start within it


def usage() -> dict[str, float]:
    """What the agent itself costs its node so far: CPU seconds (user + system, its threads and the
    crictl calls it waited for) and its resident memory now. The bench reads these from the wire."""
    times = os.times()
    rss_kib = 0
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as handle:
        rss_kib = next((int(line.split()[1]) for line in handle if line.startswith("VmRSS:")), 0)
    return {"cpu_s": round(times.user + times.system + times.children_user + times.children_system, 3),
            "rss_bytes": rss_kib * 1024, "monotonic_s": round(time.monotonic(), 3)}


def sensor_state(sensor: Any) -> dict[str, Any]:
    """A sensor's state as the wire carries it (the shape of ``detectors.sensors.base.SensorHealth``)."""
    unavailable = str(getattr(sensor, "unavailable", "") or "")
    failure = str(getattr(sensor, "failure", "") or "")
    thread = getattr(sensor, "_thread", None)
    if unavailable:
        state, reason = "unavailable", unavailable
    elif failure or (thread is not None and not thread.is_alive()):
        state, reason = "stopped", failure or "its thread ended"
    else:
        state, reason = "running", ""
    try:
        stats = dict(sensor.stats)
    except Exception:
        stats = {}
    return {"name": sensor.name, "state": state, "reason": reason, "stats": stats}


class NodeAgent:
    """One node's sensors, writing wire lines to ``out``. ``proc`` is the node's /proc."""

    def __init__(self, node: str, out: TextIO = sys.stdout, proc: str = "/proc",
                 source: ContainerdSource | None = None, health_interval_s: float = wire.HEALTH_INTERVAL_S) -> None:
        self.node = node
        self.health_interval_s = health_interval_s
        self.out = out
        self.directory = ContainerDirectory(source or ContainerdSource(proc=proc, node=node))
        self.sensors: list[Any] = [ProcfsSensor(self.directory, proc=proc), CgroupResourcesSensor(self.directory),
                                   FimSensor(follow=follow_container_files(self.directory)), ContainerLogSensor()]
        self._observers = [s for s in self.sensors if isinstance(s, Observer)]
        # Re-entrant: the hello line is written under it while the sensors start (see ``start``).
        self._write_lock = threading.RLock()
        self._stop = threading.Event()
        self._infos: dict[str, ContainerInfo] = {}
        self.failed: dict[str, str] = {}

    # --- output --------------------------------------------------------------------------------
    def _write(self, line: str) -> None:
        with self._write_lock:
            self.out.write(line + "\n")
            self.out.flush()

    def _emit_from(self, name: str) -> Any:
        def emit(event: Event) -> None:
            event.setdefault("observer.name", name)
            event.setdefault("observer.hostname", self.node)
            self._write(wire.encode("event", event=event))
            for observer in self._observers:
                try:
                    observer.observe(event)
                except Exception:  # an observer's bug must not cost the wire an event
                    self.failed.setdefault(getattr(observer, "name", "observer"), "raised while observing")

        return emit

    def health(self) -> list[dict[str, Any]]:
        out = []
        for sensor in self.sensors:
            state = sensor_state(sensor)
            if sensor.name in self.failed:
                state.update(state="failed", reason=self.failed[sensor.name])
            out.append(state)
        return out

    # --- containerd's lifecycle, as events -----------------------------------------------------
    def _lifecycle(self, container_id: str, info: ContainerInfo | None) -> None:
        if info is not None:
            self._infos[container_id] = info
            action, fields = "start", info.fields()
            if info.log_path:
                fields["container.log_path"] = info.log_path
        else:
            known = self._infos.pop(container_id, None)
            action, fields = "exit", (known.fields() if known else {"container.id": container_id})
        event = new_event("containerd", "containerd.task", action)
        event["event.category"] = "process"
        event["event.type"] = "start" if action == "start" else "end"
        event.update(fields)
        self._lifecycle_emit(event)

    # --- running -------------------------------------------------------------------------------
    def start(self) -> None:
        self._lifecycle_emit = self._emit_from("containerd")
        self.directory.listen(self._lifecycle)
        # The hello line comes first: the sensors' threads start emitting at once, and wait for it.
        with self._write_lock:
            for sensor in self.sensors:
                try:
                    sensor.start(self._emit_from(sensor.name))
                except Exception as exc:
                    self.failed[sensor.name] = f"did not start: {type(exc).__name__}: {exc}"
            self._write(wire.encode("hello", node=self.node, sensors=self.health(), usage=usage(),
                                    health_interval_s=self.health_interval_s))

    def run(self, duration_s: float | None = None) -> None:
        """Follow containerd until ``stop`` (or for ``duration_s``), reporting health as it goes."""
        self.start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        next_health = time.monotonic() + self.health_interval_s
        try:
            while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
                self.directory.sync()
                if time.monotonic() >= next_health:
                    self._write(wire.encode("health", node=self.node, sensors=self.health(), usage=usage()))
                    next_health += self.health_interval_s
                self._stop.wait(SYNC_INTERVAL_S)
        finally:
            for sensor in self.sensors:
                try:
                    sensor.stop()
                except Exception as exc:
                    self.failed.setdefault(sensor.name, f"did not stop: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self._stop.set()
