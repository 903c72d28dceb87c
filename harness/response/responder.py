"""Respond to an adversary's alerts the way a playbook says, and prove each step worked.

``stowaway run --respond`` hands every adversary scenario to ``Responder.respond`` once its expected
rules have fired (or its deadline passed): the response never decides the detection verdict, and it
never interrupts the scenario's own proof that the attack happened (detonation is over by then).
For the playbook the alerts trigger (lowest priority first), on the workload the alert names:

1. **contain**: ``quarantine`` moves the container off every network onto the run's isolated one,
   ``pause`` freezes it (a container that cannot be moved, in the host's network namespace, is
   paused instead, and the result says so);
2. **prove it**: a TCP connection attempted from inside the container to the lab internet's
   endpoint must fail (quarantine), the engine must report it paused (pause), and the lab
   internet's own record must show nothing from its former addresses after the containment;
3. **collect** the evidence bundle, and check it holds every indicator the scenario planted
   (``Lab.plant``: destinations it called, hashes of what it dropped);
4. **cross-reference** the bundle's indicators with the rest of the run's telemetry: other
   containers that touched the same destinations, hashes or programs;
5. **release** exactly what was done, and prove the workload is back (its networks and addresses,
   its reach to the lab internet when it had it, or running again).

A Swarm service's workload (the alert names the service, or a container the orchestrator runs as
one of its tasks) is contained the orchestrator's way, whatever the playbook's container action:
its task containers are frozen at once, the evidence is collected from them frozen, and the
service is constrained to no node with its spec and stopped containers kept (``lab.service_hold``).
The proof is the orchestrator's (no task runs, the spec is the one that ran) and the lab
internet's; release puts the placement back and waits for the tasks.

Nothing here kills a workload; the scenario's own cleanup removes it afterwards, as in any run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.alert import Alert
from harness.outcome import ResponseResult
from harness.response.playbooks import Playbook, first_match
from harness.response.window import kind_of
from lab import HOLD_POD, HOLD_SERVICE, LabError

KUBERNETES = ("kind", "kubernetes")

SETTLE_S = 2.0  # after containment: anything still in flight to the lab internet lands in its record first
Probe = Callable[[str, str, int], bool]


@dataclass(frozen=True, slots=True)
class Target:
    """The workload a playbook acts on, and the alert that chose it."""

    ref: str  # "container:<id>", "service:<id>" (a Swarm service) or "pod:<uid>" (a Kubernetes pod)
    container_id: str  # "" for a service or a pod
    trigger: Alert


def choose(playbooks: Sequence[Playbook], alerts: Sequence[Alert]) -> tuple[Playbook, Target] | None:
    """The playbook the alerts trigger, and the container it acts on: the first alert (by when it
    was raised) of a triggering rule that names a container."""
    playbook = first_match(playbooks, (a.rule_id for a in alerts))
    if playbook is None:
        return None
    for alert in sorted(alerts, key=lambda a: a.raised_at):
        if playbook.triggered_by(alert.rule_id) and alert.object.startswith(("container:", "service:", "pod:")):
            container = alert.object.removeprefix("container:") if alert.object.startswith("container:") else ""
            return playbook, Target(alert.object, container, alert)
    return None


@dataclass(slots=True)
class Held:
    """A containment ``respond(keep=True)`` left in place: its record, what chose it, its result."""

    record: Any
    target: Target
    result: ResponseResult


class Responder:
    """One run's responder. ``session`` is the run's LabSession (containment, probes, the lab
    internet's record), ``window`` the run's EventWindow (a monitor tap), ``evidence_dir`` where the
    bundles go."""

    def __init__(self, session: Any, playbooks: Sequence[Playbook], window: Any, evidence_dir: Path,
                 packets: Any = None) -> None:
        self.session, self.playbooks, self.window, self.evidence_dir = session, list(playbooks), window, evidence_dir
        self.packets = packets  # the packet sensor's PacketRing: the bundle's traffic.pcap
        # keep=True: what stays contained until ``release_held``, by the ref the result names
        self.held: dict[str, Held] = {}

    def respond(self, alerts: Sequence[Alert], planted: Sequence[tuple[str, str]], objects: Sequence[str],
                since: float, keep: bool = False) -> ResponseResult | None:
        """Act on the alerts as the playbook they trigger says. ``keep``: leave the workload contained
        (``stowaway respond`` during a watch) until ``release_held`` is asked for it."""
        chosen = choose(self.playbooks, alerts)
        if chosen is None:
            return None
        playbook, target = chosen
        result = ResponseResult(playbook=playbook.name, trigger=target.trigger.rule_id, object=target.ref,
                                action=playbook.contain, alert_at=target.trigger.raised_at,
                                planted=[f"{kind}:{value}" for kind, value in planted])
        if getattr(self.session, "backend_kind", "docker") in KUBERNETES:
            if result.action != "none":
                result.action = HOLD_POD  # a pod's containers are in its node's containerd, not the engine's
            return self._respond_pod(playbook, target, result, since, keep)
        service = target.ref if target.ref.startswith("service:") else \
            self.session.service_of_task(target.ref, objects)
        if service is not None:
            if result.action != "none":
                result.action = HOLD_SERVICE  # the orchestrator would replace a task moved or frozen under it
            return self._respond_service(playbook, target, service, result, objects, since, keep)
        record = None
        addresses = self._addresses(target.container_id)  # before containment moves it
        try:
            if result.action != "none":
                record = self._contain(playbook, target, result, addresses)
            if playbook.collect:
                self._collect(target, result, objects, since, addresses)
        except Exception as exc:  # any failure is this response's, said on the scorecard
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            if record is not None and keep:
                self.held[target.ref] = Held(record, target, result)
            elif record is not None:
                self._release(record, target, result)
        return result

    def release_held(self, ref: str) -> ResponseResult:
        """Release what ``respond(keep=True)`` left contained on ``ref`` (a unique id prefix will
        do), prove it as a run's release is proved, and return the response with its release checks.

        Raises:
            KeyError: nothing is held on ``ref``, or the prefix names more than one object.
        """
        kind, _, ident = ref.partition(":")
        found = [key for key in self.held
                 if ident and key.partition(":")[0] == kind and key.partition(":")[2].startswith(ident)]
        if len(found) != 1:
            held = ", ".join(sorted(self.held)) or "nothing"
            raise KeyError(f"{ref}: {'several objects match' if found else 'not contained here'} (held: {held})")
        held_now = self.held.pop(found[0])
        if held_now.record.action == HOLD_SERVICE:
            self._release_service(held_now.record, held_now.result)
        elif held_now.record.action == HOLD_POD:
            self._release_pod(held_now.record, held_now.result)
        else:
            self._release(held_now.record, held_now.target, held_now.result)
        return held_now.result

    # --- a Kubernetes pod: label, NetworkPolicy, freeze, cordon for an escape; collect; give it back --

    def _respond_pod(self, playbook: Playbook, target: Target, result: ResponseResult, since: float,
                     keep: bool) -> ResponseResult:
        hold = None
        try:
            if result.action != "none":
                # An escape's playbook freezes (pause): its node is cordoned too, as the one it came from.
                hold = self.session.hold_pod(target.ref, cordon=playbook.contain == "pause")
                result.object = hold.ref
                result.contained_at = hold.at
                time.sleep(SETTLE_S)
                checks = self._prove_pod_held(hold)
                result.checks += [text for _, text in checks]
                result.contained = all(ok for ok, _ in checks)
            if playbook.collect and hold is not None:
                from harness.response.pod_evidence import collect_pod

                bundle = collect_pod(self.session.backend, hold, self.evidence_dir, window=self.window,
                                     alert=target.trigger.to_dict(), since=since, packets=self.packets)
                _take_bundle(result, bundle)
            elif playbook.collect:
                result.checks.append("no evidence: a pod's evidence is collected with its hold")
        except Exception as exc:  # any failure is this response's, said on the scorecard
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            if hold is not None and keep:
                self.held[hold.ref] = Held(hold, target, result)
            elif hold is not None:
                self._release_pod(hold, result)
        return result

    def _prove_pod_held(self, hold: Any) -> list[tuple[bool, str]]:
        b, after = hold.before, hold.after
        tasks = after.get("tasks") or {}
        frozen = bool(tasks) and all(state == "PAUSED" for state in tasks.values())
        checks = [(frozen, f"containerd on {b['node']} reports its {len(tasks)} container(s) "
                           + ("PAUSED" if frozen else ", ".join(f"{c[:12]} {s}" for c, s in tasks.items())))]
        # The workload's own side: nothing it runs may reach a sensor after the freeze.
        late = [e for c in b["containers"] for e in self.window.events_for(c, hold.at + 0.5, time.time())
                if kind_of(e) == "process" or (e.get("event.dataset") == "network.flow"
                                               and e.get("event.action") == "start")]
        checks.append((not late, f"the sensors saw {len(late)} new process or connection event(s) from its "
                                 "containers after the freeze"))
        # The NetworkPolicy's side: new connections from the pod's own network namespace are dropped.
        if b.get("host_network"):
            checks.append((True, "it runs in its node's network namespace (hostNetwork): no NetworkPolicy "
                                 "applies to it and a connection from there is the node's, so none is probed; "
                                 "the freeze is what holds it"))
        for what, address, port in self._pod_probe_targets(b):
            reached = self.session.pod_can_connect(hold, address, port)
            checks.append((not reached, f"a connection from its network namespace to {what} {address}:{port} "
                                        f"{'still opened' if reached else 'failed'} "
                                        f"(NetworkPolicy {after.get('policy')})"))
        if after.get("cordoned") or b.get("node_unschedulable"):
            node = self.session.backend.get("node", b["node"]) or {}
            cordoned = bool((node.get("spec") or {}).get("unschedulable"))
            checks.append((cordoned, f"node {b['node']} is {'cordoned' if cordoned else 'NOT cordoned'}"))
        return checks

    def _pod_probe_targets(self, before: dict[str, Any]) -> list[tuple[str, str, int]]:
        """Where a held pod's probes go: the lab internet's sinkhole (north-south), and the cluster's DNS
        Service (east-west, through kube-proxy to a CoreDNS pod on another node or the same one); none
        for a pod on its node's network."""
        if before.get("host_network"):
            return []
        targets = []
        endpoint = self.session.sinkhole_endpoint
        if endpoint is not None and endpoint.address:
            targets.append(("the lab internet", endpoint.address, endpoint.ports[0]))
        dns = self.session.backend.get("service", "kube-dns", "kube-system") or {}
        address = str((dns.get("spec") or {}).get("clusterIP") or "")
        if address:
            targets.append(("the cluster DNS Service", address, 53))
        return targets

    def _released(self, hold: Any, result: ResponseResult, what: str) -> dict[str, Any] | None:
        """Release ``hold``; what the release left (None, said in the result, when it failed or
        ``what`` was gone)."""
        try:
            back: dict[str, Any] = self.session.release(hold).release_after
        except Exception as exc:
            result.release_checks.append(f"release failed: {type(exc).__name__}: {exc}")
            return None
        if back.get("gone"):
            result.release_checks.append(f"the {what} no longer exists")
            return None
        return back

    def _release_pod(self, hold: Any, result: ResponseResult) -> None:
        back = self._released(hold, result, "pod")
        if back is None:
            return
        tasks = back.get("tasks") or {}
        running = bool(tasks) and all(state == "RUNNING" for state in tasks.values())
        b = hold.before
        checks = [(running, f"containerd reports its {len(tasks)} container(s) "
                            + ("RUNNING" if running else ", ".join(f"{c[:12]} {s}" for c, s in tasks.items()))),
                  (not back.get("policy_left") and not back.get("labelled"),
                   "its quarantine label and NetworkPolicy are gone" if not back.get("policy_left")
                   and not back.get("labelled") else "its quarantine label or NetworkPolicy is still there"),
                  _node_check(b, back)]
        # Connectivity back: the enforcer learns the policy is gone from its watch, so a probe is retried
        # for a few seconds before it counts as still cut off.
        for what, address, port in self._pod_probe_targets(b):
            reached = any(self.session.pod_can_connect(hold, address, port, timeout_s=2.0) for _ in range(3))
            checks.append((reached, f"a connection from its network namespace to {what} {address}:{port} "
                                    f"{'opened again' if reached else 'still fails'}"))
        checks += [(False, problem) for problem in back.get("problems") or []]
        result.release_checks += [text for _, text in checks]
        result.released = all(ok for ok, _ in checks)

    # --- a Swarm service: freeze its tasks, collect, hold it on no node, give it back ---------------

    def _respond_service(self, playbook: Playbook, target: Target, service: str, result: ResponseResult,
                         objects: Sequence[str], since: float, keep: bool = False) -> ResponseResult:
        result.object = service
        containers = self.session.service_containers(service)
        primary = target.ref if target.container_id else (containers[0] if containers else "")
        addresses = sorted({a for ref in containers for a in self._addresses(ref.removeprefix("container:"))})
        frozen: list[Any] = []
        hold = None
        try:
            if result.action != "none":
                for ref in containers:  # nothing it runs acts from here on; what a live process holds stays
                    frozen.append(self.session.pause(ref))
                result.contained_at = max((r.at for r in frozen), default=None)
            if playbook.collect and primary:
                self._collect(Target(primary, primary.removeprefix("container:"), target.trigger), result, objects,
                              since, addresses)
            elif playbook.collect:
                result.checks.append("no evidence: the service ran no task to collect from")
            if result.action != "none":
                hold = self.session.hold_service(service)
                if result.contained_at is None:
                    result.contained_at = hold.at
                api = self.session.engine.client.api
                for record in frozen:  # stopped by the orchestrator now: the freeze has done its work
                    if not api.inspect_container(record.container_id)["State"].get("Running"):
                        self.session.release(record)
                time.sleep(SETTLE_S)
                checks = self._prove_held(hold, containers, frozen, addresses, result.contained_at)
                result.checks += [text for _, text in checks]
                result.contained = all(ok for ok, _ in checks)
        except Exception as exc:  # any failure is this response's, said on the scorecard
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            for record in frozen:
                if record.contained:  # the hold failed: unfreeze what was frozen
                    try:
                        self.session.release(record)
                    except Exception as exc:
                        result.release_checks.append(f"unfreeze of {record.ref} failed: {exc}")
            if hold is not None and keep:
                self.held[service] = Held(hold, target, result)
            elif hold is not None:
                self._release_service(hold, result)
        return result

    def _prove_held(self, hold: Any, containers: Sequence[str], frozen: Sequence[Any], addresses: list[str],
                    contained_at: float) -> list[tuple[bool, str]]:
        running = hold.after.get("running") or []
        kept = bool(hold.after.get("spec_kept"))
        checks = [(not running, "the orchestrator runs none of its tasks" if not running else
                   f"the orchestrator still runs {len(running)} task(s) of it"),
                  (kept, "its spec is kept as it ran (only its placement changed)" if kept
                   else "its spec changed beyond its placement"),
                  (True, f"placed on no node: {hold.after.get('pending', 0)} task(s) pending")]
        for record in frozen:
            was_frozen = bool((record.after or {}).get("paused"))
            checks.append((was_frozen, f"{record.ref.removeprefix('container:')[:12]} was "
                                       f"{'frozen' if was_frozen else 'NOT frozen'} before it was stopped"))
        states = {s["container"]: s["status"] for s in hold.after.get("kept") or []}
        api = self.session.engine.client.api
        for ref in containers:
            cid = ref.removeprefix("container:")
            try:
                status = str(api.inspect_container(cid)["State"]["Status"])
            except Exception:  # removed since: contained, and the result says the container is gone
                status = states.get(cid, "removed")
            stopped = status not in ("running", "paused", "restarting")
            checks.append((stopped, f"{cid[:12]} is {status}" + (", kept for forensics" if status == "exited" else "")))
        endpoint = self.session.sinkhole_endpoint
        if endpoint is not None:
            after = [r for r in self.session.sinkhole_records() if r.get("peer") in addresses
                     and _opened(r) > contained_at]
            checks.append((not after, f"the lab internet recorded {len(after)} connection(s) from its tasks' "
                                      f"address(es) {', '.join(addresses) or '-'} after the containment"))
        return checks

    def _release_service(self, hold: Any, result: ResponseResult) -> None:
        back = self._released(hold, result, "service")
        if back is None:
            return
        running, wanted = len(back.get("running") or []), int(back.get("wanted") or 0)
        checks = [(running >= wanted, f"the orchestrator runs {running} task(s) again (wanted {wanted})"),
                  (bool(back.get("spec_restored")), "its mode and placement are as they were" if back.get(
                      "spec_restored") else "its mode or placement differ from before")]
        result.release_checks += [text for _, text in checks]
        result.released = all(ok for ok, _ in checks)

    # --- contain and prove it ------------------------------------------------------------------

    def _contain(self, playbook: Playbook, target: Target, result: ResponseResult, addresses: list[str]) -> Any:
        record = None
        if playbook.contain == "quarantine":
            try:
                record = self.session.quarantine(target.ref)
            except LabError as exc:  # host network mode and the like: it cannot be moved, only frozen
                result.checks.append(f"quarantine impossible ({exc}): paused instead")
                result.action = "pause"
        if record is None:
            record = self.session.pause(target.ref)
        # The record's time is when the workload was cut off (off its last network, or frozen).
        result.contained_at = float(getattr(record, "at", 0.0) or time.time())
        time.sleep(SETTLE_S)
        # The lab holds the addresses a quarantined container leaves (lab.quarantine): its holders are
        # not "another container" that could have spoken from them.
        after = getattr(record, "after", None) or {}
        holders = {h["id"] for h in after.get("holders", [])}
        checks = self._prove_contained(result.action, target, addresses, result.contained_at, holders,
                                       (after.get("quarantine_network") or {}).get("name"))
        result.checks += [text for _, text in checks]
        result.contained = all(ok for ok, _ in checks)
        return record

    def _addresses(self, container_id: str) -> list[str]:
        return sorted({address for address in self._networks(container_id).values() if address})

    def _prove_contained(self, action: str, target: Target, addresses: list[str], contained_at: float,
                         holders: Collection[str] = (), quarantine_network: str | None = None
                         ) -> list[tuple[bool, str]]:
        checks: list[tuple[bool, str]] = []
        endpoint = self.session.sinkhole_endpoint
        if action == "quarantine" and quarantine_network:
            now = sorted(self._networks(target.container_id))
            alone = now == [quarantine_network]
            checks.append((alone, f"the engine reports it on {', '.join(now) or 'no network'}"
                                  + ("" if alone else f", not on {quarantine_network} alone")))
        if endpoint is None:
            # A workload on no lab run's networks (during a watch) has no lab internet to call.
            checks.append((True, "no lab internet on its networks: no probe from inside, no record to read"))
        if action == "quarantine" and endpoint is not None:
            port = endpoint.ports[0]
            reached = self.session.can_connect(target.ref, endpoint.address, port)
            checks.append((not reached, f"a connection from inside to {endpoint.address}:{port} "
                                        f"{'still opened' if reached else 'failed'}"))
        if action == "pause":
            state = self.session.engine.client.api.inspect_container(target.container_id)["State"]
            paused = bool(state.get("Paused"))
            checks.append((paused, f"the engine reports it {'paused' if paused else 'not paused'}"))
        if endpoint is not None:
            # An address freed by the quarantine is the engine's to give again: a container another
            # scenario starts meanwhile may hold it, and the record cannot tell the two apart.
            reused = self._held_by_others(addresses, {target.container_id, *holders}) \
                if action == "quarantine" else set()
            own = [a for a in addresses if a not in reused]
            # A record is written when its connection ends ("ts") and says how long it lasted: one
            # opened before the containment and cut by it is not one that got through after it.
            after = [r for r in self.session.sinkhole_records() if r.get("peer") in own and _opened(r) > contained_at]
            text = (f"the lab internet recorded {len(after)} connection(s) from its former address(es) "
                    f"{', '.join(own) or '-'} after the containment")
            if after:
                text += ": " + "; ".join(f"{r.get('proto')}/{r.get('port')} opened {_opened(r) - contained_at:+.2f}s"
                                         for r in after[:3])
            if reused:
                text += f" ({', '.join(sorted(reused))} now held by another container: not judged by the record)"
            checks.append((not after, text))
        return checks

    def _held_by_others(self, addresses: list[str], ours: set[str]) -> set[str]:
        """Which of these addresses another container on the run's networks holds now."""
        held: set[str] = set()
        api = self.session.engine.client.api
        for network in self.session.networks.values():
            try:
                members = api.inspect_network(network.id).get("Containers") or {}
            except Exception:  # a network gone is one whose addresses nobody holds
                continue
            for member_id, member in members.items():
                address = str(member.get("IPv4Address", "")).split("/")[0]
                if member_id not in ours and address in addresses:
                    held.add(address)
        return held

    # --- evidence and cross-reference ------------------------------------------------------------

    def _collect(self, target: Target, result: ResponseResult, objects: Sequence[str], since: float,
                 addresses: list[str]) -> None:
        from harness.response.evidence import collect
        from harness.response.indicators import cross_reference

        records = [r for r in self.session.sinkhole_records() if r.get("peer") in addresses] \
            if self.session.sinkhole_endpoint is not None else None
        bundle = collect(self.session.engine.client, target.container_id, self.evidence_dir, window=self.window,
                         alert=target.trigger.to_dict(), since=since, sinkhole_records=records,
                         packets=self.packets, addresses=addresses)
        _take_bundle(result, bundle)
        own = {ref.removeprefix("container:") for ref in objects if ref.startswith("container:")}
        result.related = [{"container": r.container_id, "matched": list(r.matched),
                           "same_scenario": r.container_id in own}
                          for r in cross_reference(bundle.indicators, self.window, target.container_id)]

    # --- release and prove it ------------------------------------------------------------------

    def _release(self, record: Any, target: Target, result: ResponseResult) -> None:
        try:
            after = self.session.release(record)
        except Exception as exc:
            result.release_checks.append(f"release failed: {type(exc).__name__}: {exc}")
            return
        checks: list[tuple[bool, str]] = []
        if result.action == "pause":
            state = self.session.engine.client.api.inspect_container(target.container_id)["State"]
            running = bool(state.get("Running")) and not state.get("Paused")
            checks.append((running, f"the engine reports it {'running' if running else state.get('Status')}"))
        else:
            before = {name: info.get("address") for name, info in (record.before.get("networks") or {}).items()}
            now = self._networks(target.container_id)
            back = set(before) <= set(now)
            moved = sorted(f"{name} {before[name]} -> {now[name]}" for name in before
                           if name in now and now[name] != before[name])
            shown = ", ".join(f"{name} {address}" for name, address in sorted(now.items()))
            checks.append((back, f"its networks are back ({shown})" if back else
                                 f"not back on {', '.join(sorted(set(before) - set(now)))} (now: {shown or 'none'})"))
            if moved:  # its old address was given to another container while it was contained
                result.release_checks.append(f"readdressed: {', '.join(moved)}")
            endpoint = self.session.sinkhole_endpoint
            if endpoint is not None and any(self._reaches_sinkhole(name) for name in before):
                port = endpoint.ports[0]
                reached = self.session.can_connect(target.ref, endpoint.address, port)
                checks.append((reached, f"a connection from inside to {endpoint.address}:{port} "
                                        f"{'opened again' if reached else 'still fails'}"))
        result.release_checks += [text for _, text in checks]
        result.released = all(ok for ok, _ in checks) and getattr(after, "released_at", None) is not None

    def _networks(self, container_id: str) -> dict[str, str]:
        networks = self.session.engine.client.api.inspect_container(container_id)["NetworkSettings"]["Networks"]
        return {name: info.get("IPAddress", "") for name, info in (networks or {}).items()}

    def _reaches_sinkhole(self, network_name: str) -> bool:
        inet = self.session.networks.get("inet")
        return inet is not None and network_name == inet.name


def _take_bundle(result: ResponseResult, bundle: Any) -> None:
    """The bundle's path, checksum and completeness on the result, and the planted indicators it lacks."""
    result.evidence, result.evidence_sha256 = str(bundle.path), bundle.sha256
    result.evidence_complete, result.evidence_missing = bundle.complete, list(bundle.missing)
    found = bundle.indicators.planted_form()
    result.planted_missing = [p for p in result.planted if p not in found]


def _opened(record: dict[str, Any]) -> float:
    """When a lab internet record's connection opened: it is written when it ends (``ts``), with how
    long it lasted; a datagram's is when it arrived."""
    return float(record.get("ts", 0)) - float(record.get("duration", 0) or 0)


def _node_check(before: dict[str, Any], back: dict[str, Any]) -> tuple[bool, str]:
    """The node is as it was before the lab's holds, unless other holds on it still keep it cordoned."""
    others = int(back.get("cordon_holders") or 0)
    expected = bool(before.get("node_unschedulable")) or others > 0
    state = "cordoned" if back.get("node_unschedulable") else "schedulable"
    why = f"{others} other hold(s) on it keep it cordoned" if others else "as before"
    return back.get("node_unschedulable") == expected, f"node {before['node']} is {state}, {why}"
