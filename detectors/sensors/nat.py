"""NAT rules inside container network namespaces, read from the host.

A DNAT rule inside a container's namespace silently reroutes what its processes send: the packets
on the bridge then look like a plain connection to the new destination, and only the namespace's
own NAT table says it was meant for somewhere else. The sensor reads that table from the host
(``nsenter -t <pid> -n iptables-save -t nat``, both the nft and the legacy backends, since the
container may use either) and reports each redirecting rule (DNAT, REDIRECT, SNAT, MASQUERADE).

When it looks:
- when a container starts (its initial rules, including the engine's own for the embedded DNS);
- when an ``exec`` in a container ends (``exec_die`` from the docker events sensor: the moment a
  command such as ``iptables -t nat -A ...`` has finished), and a second after an ``exec_start``;
- every ``recheck_s`` seconds for containers that *can* change their NAT table (NET_ADMIN or
  privileged). Why the periodic look: the container's own entrypoint or a child process can change
  the rules without any exec, and no cheap kernel event says "nat table changed" (nf_tables
  notifications need a netlink listener per namespace). The re-check is limited to containers with
  the capability, so its cost is a few ``iptables-save`` runs every few seconds.

Events (module ``netns``, dataset ``netns.nat``): ``nat_rule_present`` (seen at the first look),
``nat_rule_added`` (appeared since the last look), ``nat_rule_removed``.
"""

from __future__ import annotations

import contextlib
import heapq
import queue
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from detectors.event import Event, new_event
from detectors.sensors.base import ThreadedSensor
from detectors.sensors.netinventory import Inventory

REDIRECT_TARGETS = ("DNAT", "REDIRECT", "SNAT", "MASQUERADE")
SAVE_COMMANDS = ("iptables-nft-save", "iptables-legacy-save")
CAPABLE = ("NET_ADMIN", "CAP_NET_ADMIN", "ALL")


@dataclass(frozen=True, slots=True)
class NatRule:
    chain: str
    target: str
    rule: str  # the rule as iptables-save prints it, without the "-A CHAIN"
    to_ip: str = ""
    to_port: str = ""
    match_ip: str = ""  # -d: which destination the rule rewrites
    match_port: str = ""  # --dport
    protocol: str = ""
    backend: str = ""

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "nat.table": "nat", "nat.chain": self.chain, "nat.target": self.target, "nat.rule": self.rule,
            "nat.backend": self.backend,
        }
        for key, value in (("nat.to.ip", self.to_ip), ("nat.to.port", self.to_port),
                           ("nat.match.destination.ip", self.match_ip), ("nat.match.destination.port", self.match_port),
                           ("nat.match.protocol", self.protocol)):
            if value:
                out[key] = value
        return out


def _split_to(value: str) -> tuple[str, str]:
    # "198.19.0.10:80", "198.19.0.10", ":53", "198.19.0.10-198.19.0.11:80-90"
    host, _, port = value.partition(":")
    return host.split("-")[0], port


def parse_nat_table(text: str, backend: str = "") -> list[NatRule]:
    """The redirecting rules in ``iptables-save -t nat`` output."""
    rules: list[NatRule] = []
    in_nat = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("*"):
            in_nat = line == "*nat"
            continue
        if not in_nat or not line.startswith("-A "):
            continue
        try:
            tokens = shlex.split(line)
        except ValueError:
            continue
        chain = tokens[1]
        opts: dict[str, str] = {}
        i = 2
        while i < len(tokens):
            token = tokens[i]
            if token.startswith("-") and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
                opts[token] = tokens[i + 1]
                i += 2
            else:
                opts.setdefault(token, "")
                i += 1
        target = opts.get("-j", "")
        if target not in REDIRECT_TARGETS:
            continue
        to_ip, to_port = "", ""
        if target == "DNAT":
            to_ip, to_port = _split_to(opts.get("--to-destination", ""))
        elif target == "SNAT":
            to_ip, to_port = _split_to(opts.get("--to-source", ""))
        elif target == "REDIRECT":
            to_ip, to_port = "127.0.0.1", opts.get("--to-ports", "")  # REDIRECT always means "this host"
        rules.append(NatRule(chain=chain, target=target, rule=" ".join(tokens[2:]), to_ip=to_ip, to_port=to_port,
                             match_ip=opts.get("-d", "").split("/32")[0], match_port=opts.get("--dport", ""),
                             protocol=opts.get("-p", ""), backend=backend))
    return rules


def read_nat_rules(pid: int, timeout: float = 5.0) -> list[NatRule]:
    """Every redirecting NAT rule in the network namespace of ``pid``, from both iptables backends."""
    rules: list[NatRule] = []
    for command in SAVE_COMMANDS:
        if shutil.which(command) is None:
            continue
        result = subprocess.run(["nsenter", "-t", str(pid), "-n", command, "-t", "nat"], capture_output=True,
                                text=True, timeout=timeout, check=False)
        if result.returncode == 0:
            rules.extend(parse_nat_table(result.stdout, backend=command.split("-")[1]))
    return rules


class NatSensor(ThreadedSensor):
    """One thread looks: at what the docker events ask for (queued by ``observe``), at looks that
    are due later (a second after an exec started), and every ``recheck_s`` at the capable ones."""

    name: ClassVar[str] = "netns-nat"

    def __init__(self, client: Any, inventory: Inventory | None = None, recheck_s: float = 3.0) -> None:
        super().__init__(extra_stats=("looks",))
        self.client = client
        self.inventory = inventory or Inventory(client)
        self.recheck_s = recheck_s
        self._queue: queue.Queue[tuple[float, str, str]] = queue.Queue()
        self._later: list[tuple[float, str, str]] = []  # a heap of looks not due yet (the thread's own)
        self._known: dict[str, set[NatRule]] = {}  # container id -> rules at the last look
        self._capable: dict[str, int] = {}  # container id -> pid, for the periodic re-check

    def open(self) -> None:
        with contextlib.suppress(Exception):  # containers that were running before the sensor
            for item in self.client.api.containers():
                self._queue.put((0.0, item["Id"], "running"))

    def observe(self, event: Event) -> None:
        if event.get("event.module") != "docker" or event.get("event.type") != "container":
            return
        action, cid = event.get("event.action"), event.get("container.id") or ""
        if not cid:
            return
        if action == "start":
            self._queue.put((0.0, cid, "start"))
        elif action == "exec_die":
            self._queue.put((0.0, cid, "exec"))
        elif action == "exec_start":
            self._queue.put((time.monotonic() + 1.0, cid, "exec"))  # a long-running exec: look again soon
        elif action in ("die", "destroy"):
            self._capable.pop(cid, None)
            self._known.pop(cid, None)

    def run(self) -> None:
        next_recheck = time.monotonic() + self.recheck_s
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_recheck:
                next_recheck = now + self.recheck_s
                for cid in list(self._capable):
                    self._queue.put((0.0, cid, "recheck"))
            while self._later and self._later[0][0] <= now:
                _, cid, why = heapq.heappop(self._later)
                self._queue.put((0.0, cid, why))
            try:
                not_before, cid, why = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if not_before > time.monotonic():
                heapq.heappush(self._later, (not_before, cid, why))
                continue
            try:
                self.look(cid, why)
            except Exception:  # one container's failure must not stop the others
                self._stats.errors += 1

    def look(self, cid: str, why: str) -> list[Event]:
        inspect = self.client.api.inspect_container(cid)
        state = inspect.get("State") or {}
        pid = int(state.get("Pid") or 0)
        if not state.get("Running") or pid <= 0:
            return []
        host = inspect.get("HostConfig") or {}
        caps = {c.upper() for c in host.get("CapAdd") or []}
        if host.get("Privileged") or caps & set(CAPABLE):
            self._capable[cid] = pid
        self._stats.extra["looks"] += 1
        rules = set(read_nat_rules(pid))
        before = self._known.get(cid)
        self._known[cid] = rules
        events: list[Event] = []
        if before is None:
            events += [self._event("nat_rule_present", cid, rule, why, inspect) for rule in sorted(rules, key=str)]
        else:
            events += [self._event("nat_rule_added", cid, rule, why, inspect)
                       for rule in sorted(rules - before, key=str)]
            events += [self._event("nat_rule_removed", cid, rule, why, inspect)
                       for rule in sorted(before - rules, key=str)]
        for event in events:
            self.send(event)
        return events

    def _event(self, action: str, cid: str, rule: NatRule, why: str, inspect: dict[str, Any]) -> Event:
        event = new_event("netns", "netns.nat", action)
        event["event.category"] = "network"
        event["event.reason"] = why
        info = self.inventory.by_id(cid)
        if info is not None:
            event.update(info.fields("container"))
        event["container.id"] = cid
        host = inspect.get("HostConfig") or {}
        event["container.cap_add"] = list(host.get("CapAdd") or [])
        event["container.privileged"] = bool(host.get("Privileged"))
        event.update(rule.fields())
        network = self.inventory.network_at(rule.to_ip) if rule.to_ip else None
        if network:
            event["nat.to.network.id"], event["nat.to.network.name"] = network
        return event

