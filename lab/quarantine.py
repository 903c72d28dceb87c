"""Containment of one container, reversible, with the state before and after recorded.

- ``quarantine`` moves a container off every network it is on and onto the run's quarantine
  network (``lab.networks.create_quarantine_network``: internal, inter-container traffic off), so it
  reaches nothing: not the lab internet, not its former peers, not another contained container, not
  the host (the lab's guard rules drop new connections to it). The container keeps running: its
  processes and memory are the evidence, and nothing here kills or restarts it.
- ``pause`` freezes every process of a container (``docker pause``: the cgroup freezer), for a
  container that cannot be moved: one in the host's network namespace, another container's, or none.
- ``release`` undoes either exactly, and says what it could not restore and why.
- ``can_connect`` attempts a real TCP connection from inside a container: the proof that
  containment holds and that release gave the connectivity back.

Each action returns a ``ContainmentRecord`` (JSON-serialisable). The lab knows nothing of why a
container is contained: it acts on objects by ref (``container:<id>``). The record's shape leaves
room for the orchestrated backends (a Swarm service held on no node, a Pod behind a NetworkPolicy):
a ref, an action name, and free-form before/after state.

Blind spots: a container that shares its network namespace with others (``container:<id>``) moves
them too when it is the namespace's owner; a privileged container can undo its own confinement
inside the namespace it keeps (it still has only the quarantine bridge, where nothing answers).
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker.errors

from lab.errors import LabError
from lab.networks import LAB_RANGE, LabNetwork

QUARANTINE = "quarantine"
PAUSE = "pause"
HOLD_SERVICE = "hold-service"  # a Swarm service's: lab.service_hold
HOLD_POD = "hold-pod"  # a Kubernetes pod's: lab.pod_hold (released through the cluster, not the engine)
ACTIONS = (QUARANTINE, PAUSE, HOLD_SERVICE, HOLD_POD)
CONTAINER_REF = "container:"
# Network modes that give a container no network of its own to move (docker inspect's HostConfig.NetworkMode).
_UNMOVABLE = {"host": "shares the host's network namespace", "none": "has no network interface to move"}
_PROBE = ("import socket,sys\n"
          "try:\n"
          "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()\n"
          "except OSError as exc:\n"
          "    print(type(exc).__name__, exc); sys.exit(1)\n")
_NOT_FOUND_EXITS = (126, 127)  # the runtime could not start the program: it is not in the image


@dataclass(slots=True)
class ContainmentRecord:
    """One containment action on one object and, once released, its undoing."""

    ref: str  # the object acted on: "container:<full id>", or "service:<full id>" for hold-service
    action: str  # "quarantine" | "pause" | "hold-service"
    at: float  # epoch seconds when the containment took hold
    # The state the action changed, as it was: for quarantine {"networks": {name: {"id", "address"
    # (IPv4), "aliases", "mac_address", "static"}}, "state"}; for pause {"state", "paused"}; for
    # hold-service {"spec", "version", "mode", "replicas", "placement", "tasks"} (lab.service_hold).
    before: dict[str, Any]
    after: dict[str, Any]  # the same keys, as the action left them
    released_at: float | None = None  # epoch seconds; None while contained
    # The state release left: networks back, and what could not be restored ("unrestored": [{network,
    # reason}]; "readdressed": [{network, address, was}] where the old address could not be had).
    release_after: dict[str, Any] = field(default_factory=dict)

    @property
    def contained(self) -> bool:
        return self.released_at is None

    @property
    def container_id(self) -> str:
        return self.ref.removeprefix(CONTAINER_REF)

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "action": self.action, "at": self.at, "before": self.before,
                "after": self.after, "released_at": self.released_at, "release_after": self.release_after}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContainmentRecord:
        """Raises ValueError naming the field that is missing or wrong."""
        for key in ("ref", "action", "at", "before", "after"):
            if key not in data:
                raise ValueError(f"containment record: {key!r} is missing")
        if data["action"] not in ACTIONS:
            raise ValueError(f"containment record: action {data['action']!r} is not one of {', '.join(ACTIONS)}")
        released = data.get("released_at")
        return cls(ref=str(data["ref"]), action=str(data["action"]), at=float(data["at"]),
                   before=dict(data["before"]), after=dict(data["after"]),
                   released_at=None if released is None else float(released),
                   release_after=dict(data.get("release_after") or {}))


Journal = Callable[[ContainmentRecord], None]


def _inspect(client: Any, container_id: str) -> dict[str, Any]:
    try:
        return dict(client.api.inspect_container(container_id))
    except docker.errors.NotFound as exc:
        raise LabError(f"no container {container_id!r} on the engine") from exc


def _networks(attrs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The container's networks as a record keeps them: by name, with id, IPv4 address and aliases."""
    short = attrs["Id"][:12]
    found = {}
    for name, endpoint in ((attrs.get("NetworkSettings") or {}).get("Networks") or {}).items():
        found[name] = {
            "id": endpoint.get("NetworkID", ""),
            "address": endpoint.get("IPAddress", ""),
            # The engine adds the container's short id as an alias on every user-defined network it
            # joins: not the container's own, and added again on reconnect.
            "aliases": [a for a in endpoint.get("Aliases") or [] if a != short],
            "mac_address": endpoint.get("MacAddress", ""),
            "static": bool((endpoint.get("IPAMConfig") or {}).get("IPv4Address")),  # fixed at creation
        }
    return found


def _state(attrs: dict[str, Any]) -> str:
    return str((attrs.get("State") or {}).get("Status", "unknown"))


def quarantine(client: Any, run_id: str, container_id: str, network: LabNetwork,
               journal: Journal | None = None, hold_image: str | None = None) -> ContainmentRecord:
    """Move a container off every network it is on and onto ``network`` (the run's quarantine
    network). Nothing is killed or restarted. ``journal`` is told the record before anything
    changes (so a run killed halfway can be undone by the reaper). ``run_id`` names the run acting.

    With ``hold_image``, each address it leaves is held until release by an idle container of that
    image (labelled with the run, so teardown and the reaper remove it): otherwise the engine gives
    the address to the next container that joins, and everything keyed on addresses (a network
    sensor's attribution, the lab internet's record, a name that points there) would blame that
    newcomer for the contained container's past. The holder joins right after the container leaves;
    a container joining in that moment can still take the address (then the holder is skipped, said
    in ``after["unheld"]``).

    Raises:
        LabError: no such container; it cannot be moved (host, none or another container's network
            namespace: pause it instead); it is already in quarantine; or the engine refused a step
            (what had been done is undone first).
    """
    attrs = _inspect(client, container_id)
    full_id = attrs["Id"]
    mode = str((attrs.get("HostConfig") or {}).get("NetworkMode") or "")
    why = _UNMOVABLE.get(mode) or (f"shares the network namespace of {mode.removeprefix('container:')[:12]}"
                                  if mode.startswith("container:") else None)
    if why is not None:
        raise LabError(f"container {full_id[:12]} (network_mode {mode}) {why}: it cannot be moved to a "
                       "quarantine network; pause it instead")
    networks = _networks(attrs)
    if any(entry["id"] == network.id for entry in networks.values()):
        raise LabError(f"container {full_id[:12]} is already on the quarantine network {network.name} (run {run_id})")
    held = {"name": network.name, "id": network.id}
    record = ContainmentRecord(ref=f"{CONTAINER_REF}{full_id}", action=QUARANTINE, at=0.0,
                               before={"networks": networks, "state": _state(attrs)},
                               after={"quarantine_network": held})
    if journal is not None:
        journal(record)
    api = client.api
    left: list[str] = []
    holders: list[dict[str, str]] = []
    unheld: list[dict[str, str]] = []
    try:
        for name, entry in networks.items():
            api.disconnect_container_from_network(full_id, entry["id"])
            left.append(name)
            if hold_image and entry["address"]:
                held_by = _hold(client, run_id, hold_image, full_id, entry)
                (holders if isinstance(held_by, dict) else unheld).append(
                    held_by if isinstance(held_by, dict) else {"network": name, "reason": held_by})
        record.at = time.time()  # off every network: nothing leaves it from here on
        api.connect_container_to_network(full_id, network.id)
    except docker.errors.APIError as exc:
        failed = f"{exc.explanation or exc}"
        with contextlib.suppress(docker.errors.APIError):
            api.disconnect_container_from_network(full_id, network.id)
        _drop_holders(api, holders)
        for name in left:
            _reconnect(api, full_id, name, networks[name])
        raise LabError(f"could not quarantine container {full_id[:12]}: {failed} (its networks were restored)") from exc
    after = _inspect(client, full_id)
    record.after = {"networks": _networks(after), "state": _state(after), "quarantine_network": held,
                    "holders": holders, "unheld": unheld}
    if journal is not None and holders:
        journal(record)  # the holders are the run's objects: said so a reaper knows what they held
    return record


def _hold(client: Any, run_id: str, image: str, container_id: str, entry: dict[str, Any]) -> dict[str, str] | str:
    """Start an idle container holding ``entry``'s address on its network; its record, or why not."""
    from lab.bookkeeping import RUN_LABEL

    api = client.api
    created: dict[str, Any] | None = None
    try:
        networking = api.create_networking_config(
            {entry["id"]: api.create_endpoint_config(ipv4_address=entry["address"])})
        created = api.create_container(
            image, command=["sleep", "infinity"], labels={RUN_LABEL: run_id},
            name=f"stw-{run_id}-{container_id[:8]}-{entry['address'].replace('.', '-')}",
            host_config=api.create_host_config(network_mode=entry["id"], init=True),
            networking_config=networking)
        api.start(created["Id"])
    except docker.errors.APIError as exc:
        if created is not None:
            with contextlib.suppress(docker.errors.APIError):
                api.remove_container(created["Id"], force=True)
        return f"the address could not be held: {exc.explanation or exc}"
    return {"network": entry["id"], "address": entry["address"], "id": created["Id"]}


def _drop_holders(api: Any, holders: list[dict[str, str]], network_id: str | None = None) -> None:
    """Remove the address holders (of one network, or all): their address is about to be taken back."""
    for holder in holders:
        if network_id is None or holder["network"] == network_id:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(holder["id"], force=True)


def pause(client: Any, container_id: str, journal: Journal | None = None) -> ContainmentRecord:
    """Freeze every process of a running container (``docker pause``, the cgroup freezer).

    Raises:
        LabError: no such container, it is not running, or it is already paused (by someone else:
            releasing this record would undo their pause).
    """
    attrs = _inspect(client, container_id)
    full_id, state = attrs["Id"], attrs.get("State") or {}
    if state.get("Paused"):
        raise LabError(f"container {full_id[:12]} is already paused")
    if not state.get("Running"):
        raise LabError(f"container {full_id[:12]} is not running ({_state(attrs)}): there is nothing to freeze")
    record = ContainmentRecord(ref=f"{CONTAINER_REF}{full_id}", action=PAUSE, at=0.0,
                               before={"state": _state(attrs), "paused": False}, after={})
    if journal is not None:
        journal(record)
    try:
        client.api.pause(full_id)
    except docker.errors.APIError as exc:
        raise LabError(f"could not pause container {full_id[:12]}: {exc.explanation or exc}") from exc
    record.at = time.time()
    after = _inspect(client, full_id)
    record.after = {"state": _state(after), "paused": bool((after.get("State") or {}).get("Paused"))}
    return record


def release(client: Any, record: ContainmentRecord, journal: Journal | None = None) -> ContainmentRecord:
    """Undo ``record`` exactly, as far as the engine still allows, and return it with ``released_at``
    and ``release_after`` set (the same object). Idempotent: a released record is returned as it is.

    Quarantine: each recorded network that still exists is joined again with the same IPv4 address
    and aliases (another address when that one was taken meanwhile: ``release_after["readdressed"]``),
    then the quarantine network is left. A network that is gone, or a container that is, is listed in
    ``release_after["unrestored"]`` with the reason. Pause: the container is unpaused. Hold-service:
    the service's placement is put back (``lab.service_hold.release``). ``journal`` is
    told the released record.

    Raises:
        LabError: the engine refused a step for a reason other than the above.
    """
    if not record.contained:
        return record
    if record.action == HOLD_POD:
        raise LabError(f"{record.ref}: a pod hold is released through its cluster (ContainmentBook.release)")
    if record.action == HOLD_SERVICE:
        from lab import service_hold

        record.release_after = service_hold.release(client, record)
        record.released_at = time.time()
        if journal is not None:
            journal(record)
        return record
    try:
        attrs = client.api.inspect_container(record.container_id)
    except docker.errors.NotFound:
        attrs = None
    if attrs is None:
        gone = [{"network": name, "reason": "the container no longer exists"}
                for name in (record.before.get("networks") or {})] if record.action == QUARANTINE else []
        record.release_after = {"gone": True, "unrestored": gone}
    elif record.action == QUARANTINE:
        record.release_after = _release_quarantine(client, record, attrs)
    else:
        if (attrs.get("State") or {}).get("Paused"):
            try:
                client.api.unpause(record.container_id)
            except docker.errors.APIError as exc:
                raise LabError(f"could not unpause container {record.container_id[:12]}: "
                               f"{exc.explanation or exc}") from exc
        now = _inspect(client, record.container_id)
        record.release_after = {"state": _state(now), "paused": bool((now.get("State") or {}).get("Paused"))}
    record.released_at = time.time()
    if journal is not None:
        journal(record)
    return record


def _release_quarantine(client: Any, record: ContainmentRecord, attrs: dict[str, Any]) -> dict[str, Any]:
    api = client.api
    full_id = attrs["Id"]
    current = {entry["id"] for entry in _networks(attrs).values()}
    unrestored: list[dict[str, str]] = []
    readdressed: list[dict[str, str]] = []
    for name, entry in (record.before.get("networks") or {}).items():
        if entry["id"] in current:
            continue  # joined again meanwhile (a release cut short): nothing to redo
        try:
            api.inspect_network(entry["id"])
        except docker.errors.NotFound:
            unrestored.append({"network": name, "reason": f"network {name} ({entry['id'][:12]}) no longer exists"})
            continue
        _drop_holders(api, list(record.after.get("holders") or []), entry["id"])  # give the address back
        problem = _reconnect(api, full_id, name, entry)
        if problem is not None:
            unrestored.append({"network": name, "reason": problem})
    quarantine_id = (record.after.get("quarantine_network") or {}).get("id")
    if quarantine_id and quarantine_id in current:
        try:
            api.disconnect_container_from_network(full_id, quarantine_id)
        except docker.errors.NotFound:
            pass  # the quarantine network went first: nothing holds the container there any more
        except docker.errors.APIError as exc:
            raise LabError(f"could not take container {full_id[:12]} off the quarantine network: "
                           f"{exc.explanation or exc}") from exc
    now = _networks(_inspect(client, full_id))
    for name, entry in (record.before.get("networks") or {}).items():
        address = (now.get(name) or {}).get("address")
        if address and address != entry["address"]:
            readdressed.append({"network": name, "address": address, "was": entry["address"]})
    return {"networks": now, "state": _state(attrs), "unrestored": unrestored, "readdressed": readdressed}


def _reconnect(api: Any, container_id: str, name: str, entry: dict[str, Any]) -> str | None:
    """Join a network again with the recorded address and aliases; when the engine will not give
    that address (taken meanwhile, or a network without a configured subnet), with whatever it gives.
    Returns why the network could not be joined at all, or None."""
    aliases = list(entry.get("aliases") or []) or None
    try:
        api.connect_container_to_network(container_id, entry["id"], ipv4_address=entry["address"] or None,
                                         aliases=aliases)
        return None
    except docker.errors.APIError as exc:
        first = f"{exc.explanation or exc}"
    try:
        api.connect_container_to_network(container_id, entry["id"], aliases=aliases)
        return None
    except docker.errors.APIError as exc:
        return f"the engine refused to reconnect {name}: {first}; without a fixed address: {exc.explanation or exc}"


def check_probe_target(address: str, port: int) -> None:
    """Refuse a connection probe anywhere but the lab range and loopback.

    Raises:
        LabError: ``address`` is not a literal address there, or ``port`` is not a TCP port.
    """
    try:
        target = ipaddress.ip_address(address)
    except ValueError as exc:
        raise LabError(f"can_connect: {address!r} is not an IP address (names are not resolved)") from exc
    if not (target.is_loopback or (target.version == 4 and target in LAB_RANGE)):
        raise LabError(f"can_connect: {address} is outside the lab range {LAB_RANGE} and loopback: "
                       "the lab sends nothing there")
    if not 0 < port < 65536:
        raise LabError(f"can_connect: port {port} is not a TCP port")


def can_connect(client: Any, container_id: str, address: str, port: int, timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to ``address``:``port`` opens from inside the container: a real
    connect attempted there (``docker exec`` of python3, or netcat where there is no python3),
    given up after ``timeout_s``. A paused or stopped container runs nothing, so it connects nowhere:
    False without an attempt.

    Raises:
        LabError: ``address`` is not a literal address inside the lab range or loopback (the lab sends
            nothing anywhere else); no such container; nothing in it can open a TCP connection.
    """
    check_probe_target(address, port)
    state = _inspect(client, container_id).get("State") or {}
    if state.get("Paused") or not state.get("Running"):
        return False
    wait = f"{max(timeout_s, 0.1):g}"
    code = _exec(client, container_id, ["python3", "-c", _PROBE, address, str(port), wait], timeout_s)
    if code in _NOT_FOUND_EXITS:
        code = _exec(client, container_id, ["nc", "-z", "-w", str(max(1, round(timeout_s))), address, str(port)],
                     timeout_s)
    if code in _NOT_FOUND_EXITS:
        raise LabError(f"can_connect: container {container_id[:12]} has neither python3 nor nc to attempt a connection")
    return code == 0


def _exec(client: Any, container_id: str, command: list[str], timeout_s: float) -> int | None:
    """Run ``command`` in the container; its exit code (None when it outlives the bound). The probe
    bounds itself; the extra margin covers the exec's own start."""
    api = client.api
    try:
        exec_id = api.exec_create(container_id, command)["Id"]
        api.exec_start(exec_id)
    except docker.errors.APIError as exc:
        if "is paused" in str(exc) or "is not running" in str(exc):
            return 1  # frozen or stopped between the look and the exec: it connects nowhere
        raise LabError(f"can_connect: could not exec in container {container_id[:12]}: "
                       f"{exc.explanation or exc}") from exc
    deadline = time.monotonic() + timeout_s + 5.0
    while True:
        info = api.exec_inspect(exec_id)
        if not info.get("Running"):
            code = info.get("ExitCode")
            return None if code is None else int(code)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def release_journalled(client: Any, entries: list[dict[str, Any]]) -> int:
    """Release what a dead run's journal says it contained and did not release (newest first).
    Returns how many containers were changed back (one that is gone needed nothing)."""
    open_records: list[ContainmentRecord] = []
    for entry in entries:
        if entry.get("kind") == "containment":
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                record = ContainmentRecord.from_dict(entry["record"])
                # A quarantine is journalled before it acts and again with its address holders; one
                # container is contained one way at a time: the later entry replaces the earlier.
                open_records = [r for r in open_records if (r.ref, r.action) != (record.ref, record.action)]
                open_records.append(record)
        elif entry.get("kind") == "containment-released":
            for held in reversed(open_records):
                if (held.ref, held.action) == (entry.get("ref"), entry.get("action")):
                    open_records.remove(held)
                    break
    released = 0
    # A pod hold lives in the run's own kind cluster, which the reaper deletes with the run.
    for record in reversed([r for r in open_records if r.action != HOLD_POD]):
        with contextlib.suppress(Exception):  # the engine refused: the reaper reports what stays
            release(client, record)
            released += not record.release_after.get("gone")
    return released
