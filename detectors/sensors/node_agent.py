"""The harness's end of the node agents: follow every agent's output through the API server.

Each node's agent (``detectors.agent``, a DaemonSet) writes wire lines to its stdout. This sensor
lists the agent's pods and follows each one's log (``kubectl logs -f``), so the events of every
node reach the engine over the one authenticated path the harness already uses for the cluster;
no port is opened on a node, and a cluster the harness cannot enter works the same as kind.

An agent that says nothing for ``SILENT_AFTER`` of its health intervals (at least ``SILENT_MIN_S``) is
reported once as ``silent`` (``stowaway.node_agent``), and ``resumed`` when it speaks again: its node
is unwatched meanwhile, whether someone froze or killed the process, deleted its pod, or took it off
the node. A rollout that replaces the agent is back within seconds, well inside that.

A follow that ends (the pod restarted, the API server dropped the stream) is resumed from the last
line's timestamp, and lines at or before it are skipped: an event is passed on once. Lines that are
not wire lines are counted (``dropped``) and never passed on. Events are renamed for the monitor:
``observer.name`` becomes ``node-agent/<sensor>`` (a scorecard's data sources say the agent saw
it) and ``event.id`` is made unique per node.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from detectors.agent import wire
from detectors.event import new_event
from detectors.sensors.base import ThreadedSensor

LIST_INTERVAL_S = 5.0  # how often the agent's pods are listed (a node that joins gets followed)
SILENT_AFTER = 3  # health intervals without a line before an agent is reported silent
SILENT_MIN_S = 15.0
# The interval comes from the agent's own hello: whoever can write into an agent's output could claim
# an hour and go quiet for it. No claim buys more patience than this interval's (the default's 3x).
MAX_HEALTH_INTERVAL_S = 30.0


def stamp_key(stamp: str) -> tuple[str, int]:
    """An RFC 3339 timestamp with nanoseconds as an ordered key. The kubelet writes Go's RFC3339Nano,
    which drops trailing zeros of the fraction, so the strings themselves do not sort."""
    head, _, rest = stamp.rstrip("Z").partition(".")
    digits = "".join(c for c in rest if c.isdigit())[:9]
    return head, int(digits.ljust(9, "0")) if digits else 0


class NodeAgentStream(ThreadedSensor):
    name: ClassVar[str] = "node-agent"
    join_timeout_s: ClassVar[float] = 10.0

    def __init__(self, kubectl: Sequence[str], namespace: str, selector: str) -> None:
        super().__init__(extra_stats=("agents", "follows", "agent_sensors_not_running", "silences"))
        self.kubectl = list(kubectl)
        self.namespace = namespace
        self.selector = selector
        self._lock = threading.Lock()
        self._followed: dict[str, threading.Thread] = {}  # pod name -> its follower
        self._procs: dict[str, subprocess.Popen[str]] = {}
        self.agents: dict[str, list[dict[str, Any]]] = {}  # node -> its sensors' states, as it last said
        self.usage: dict[str, list[dict[str, float]]] = {}  # node -> the agent's own usage, each time it said
        self._heard: dict[str, float] = {}  # node -> when its agent's last line arrived (monotonic)
        self._patience: dict[str, float] = {}  # node -> seconds of quiet before its agent counts as silent
        self._silent: set[str] = set()

    # --- the pods ------------------------------------------------------------------------------
    def _pods(self) -> list[tuple[str, str]]:
        """(pod name, node) of the agent's running pods."""
        result = subprocess.run([*self.kubectl, "get", "pods", "-n", self.namespace, "-l", self.selector,
                                 "-o", "json"], capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"listing the node agent's pods failed: {result.stderr.strip()[-300:]}")
        pods = []
        for item in json.loads(result.stdout).get("items", []):
            if (item.get("status") or {}).get("phase") == "Running":
                pods.append((item["metadata"]["name"], (item.get("spec") or {}).get("nodeName", "")))
        return pods

    def run(self) -> None:
        while True:
            self.check_silence(time.monotonic())
            try:
                for pod, node in self._pods():
                    with self._lock:
                        follower = self._followed.get(pod)
                        if follower is None or not follower.is_alive():
                            follower = threading.Thread(target=self._follow, args=(pod, node), daemon=True,
                                                        name=f"node-agent-{node}")
                            self._followed[pod] = follower
                            follower.start()
            except (RuntimeError, ValueError, subprocess.TimeoutExpired, OSError):
                self._stats.errors += 1
            if self._stop.wait(LIST_INTERVAL_S):
                return

    # --- one agent's output --------------------------------------------------------------------
    def _follow(self, pod: str, node: str) -> None:
        last = ""  # the RFC 3339 timestamp of the last line passed on
        last_key = ("", 0)
        while not self._stop.is_set():
            command = [*self.kubectl, "logs", "-f", "--timestamps", "-n", self.namespace, pod]
            command += [f"--since-time={last}"] if last else ["--tail=-1"]
            try:
                proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        bufsize=1)
            except OSError:
                self._stats.errors += 1
                return
            with self._lock:
                self._procs[pod] = proc
                self._stats.extra["follows"] += 1
            assert proc.stdout is not None
            for raw in proc.stdout:
                stamp, _, text = raw.rstrip("\n").partition(" ")
                key = stamp_key(stamp)
                if last and key <= last_key:  # resumed: this line was passed on by the last follow
                    continue
                last, last_key = stamp, key
                self._line(text, node)
            proc.wait()
            with self._lock:
                self._procs.pop(pod, None)
            if self._stop.wait(1.0) or proc.returncode not in (0, None):
                return  # the pod is gone (logs fails): the lister follows its successor

    def check_silence(self, now: float) -> None:
        """Report each agent that has said nothing for longer than its patience, once."""
        with self._lock:
            quiet = [(node, now - at) for node, at in self._heard.items()
                     if node not in self._silent and now - at > self._patience.get(node, SILENT_MIN_S)]
            self._silent.update(node for node, _ in quiet)
        for node, seconds in quiet:
            self._stats.extra["silences"] += 1
            self.send(_agent_event("silent", node, seconds))

    def _heard_from(self, node: str, line: wire.Line) -> None:
        with self._lock:
            self._heard[node] = time.monotonic()
            interval = line.body.get("health_interval_s")
            if line.kind == "hello" and isinstance(interval, (int, float)) and interval > 0:
                self._patience[node] = max(SILENT_MIN_S, SILENT_AFTER * min(float(interval), MAX_HEALTH_INTERVAL_S))
            resumed = node in self._silent
            self._silent.discard(node)
        if line.kind == "hello":  # an agent (re)started on the node: its pod is new, or its process is
            self.send(_agent_event("started", node, 0.0))
        elif resumed:
            self.send(_agent_event("resumed", node, 0.0))

    def _line(self, text: str, node: str) -> None:
        line = wire.decode(text)
        if line is None:
            self._stats.dropped += 1
            return
        where = str(line.body.get("node") or node)
        self._heard_from(where, line)
        if line.kind in ("hello", "health"):
            with self._lock:
                fresh = where not in self.agents
                self.agents[where] = list(line.body.get("sensors") or [])
                if isinstance(line.body.get("usage"), dict):
                    self.usage.setdefault(where, []).append(dict(line.body["usage"]))
                    del self.usage[where][:-120]  # bounded: the last hour at the default interval
                if fresh:
                    self._stats.extra["agents"] += 1
                # Each node's agent says how its own sensors fare: one that is not running on some node
                # is a blind spot there, counted where the scorecard's sensor health shows it.
                self._stats.extra["agent_sensors_not_running"] = sum(
                    1 for states in self.agents.values() for state in states if state.get("state") != "running")
            return
        event = dict(line.body["event"])
        sensor = str(event.get("observer.name") or "agent")
        event["observer.name"] = f"{self.name}/{sensor}"
        event.setdefault("observer.hostname", node)
        event["event.id"] = f"{node}:{event.get('event.id', '')}"
        self.send(event)

    def close(self) -> None:
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


def _agent_event(action: str, node: str, quiet_s: float) -> dict[str, Any]:
    """What the reader says of an agent itself: ``started``, ``silent`` (nothing for ``quiet_s``) or
    ``resumed``. The object is the node (``host.id``)."""
    event = new_event("stowaway", "stowaway.node_agent", action)
    event["event.category"] = "host"
    event["host.id"] = event["host.name"] = event["orchestrator.node.name"] = node
    event["agent.type"] = "stowaway-node-agent"
    if action == "silent":
        event["agent.quiet_s"] = round(quiet_s, 1)
    return event
