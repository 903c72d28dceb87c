"""Containment (lab.quarantine) against a fake engine client (a unit-test boundary): the record's
round trip, the quarantine subnets' arithmetic, refusals, and exact undoing. The real engine's
behaviour (ICC off, a real TCP probe) is in tests/integration/test_quarantine_live.py."""

from __future__ import annotations

import ipaddress
import json
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from lab import ContainmentRecord, LabError, LabSession, journal
from lab import networks as lab_networks
from lab import quarantine as q
from lab.backends.swarm import GWBRIDGE_SUBNET, SWARM_POOL
from lab.engine import ENGINE_ADDRESS_POOL
from lab.kind.cluster import KIND_SLOTS
from lab.kind.recipe import POD_SUBNET, SERVICE_SUBNET
from lab.networks import LAB_RANGE, QUARANTINE_SLOTS, SLOTS, LabNetwork, _subnets, quarantine_subnet, slot_of
from lab.paths import LabPaths

QNET = LabNetwork(role="quarantine", name="stw-abc123-quarantine", id="q" * 64,
                  subnet=ipaddress.IPv4Network("198.18.192.0/26"))
CID = "c" * 64


# --- a fake engine: containers with networks, networks that exist, execs with exit codes ----------

class FakeApi:
    def __init__(self) -> None:
        self.containers: dict[str, dict[str, Any]] = {}
        self.network_ids = {"lan-id": "stw-abc123-lan", "inet-id": "stw-abc123-inet", QNET.id: QNET.name}
        self.calls: list[tuple[Any, ...]] = []
        self.taken: set[str] = set()  # addresses someone else holds now
        self.refuse_connect_to: set[str] = set()
        self.exit_codes: list[int] = []  # per exec, in order

    def add(self, cid: str = CID, mode: str = "stw-abc123-lan", running: bool = True, paused: bool = False,
            networks: dict[str, tuple[str, str]] | None = None) -> None:
        nets = networks if networks is not None else {"stw-abc123-lan": ("lan-id", "198.18.6.2"),
                                                      "stw-abc123-inet": ("inet-id", "198.19.3.2")}
        self.containers[cid] = {
            "Id": cid, "HostConfig": {"NetworkMode": mode},
            "State": {"Status": "paused" if paused else "running" if running else "exited",
                      "Running": running, "Paused": paused},
            "NetworkSettings": {"Networks": {
                name: {"NetworkID": nid, "IPAddress": ip, "Aliases": [cid[:12], "web-1a2b3c"],
                       "MacAddress": "02:42:00:00:00:02", "IPAMConfig": None}
                for name, (nid, ip) in nets.items()}},
        }

    def _get(self, cid: str) -> dict[str, Any]:
        for full, attrs in self.containers.items():
            if full.startswith(cid):
                return attrs
        raise docker.errors.NotFound(f"No such container: {cid}")

    def inspect_container(self, cid: str) -> dict[str, Any]:
        return json.loads(json.dumps(self._get(cid)))

    def inspect_network(self, nid: str) -> dict[str, Any]:
        if nid not in self.network_ids:
            raise docker.errors.NotFound(f"network {nid} not found")
        return {"Id": nid, "Name": self.network_ids[nid]}

    def disconnect_container_from_network(self, cid: str, nid: str) -> None:
        self.calls.append(("disconnect", nid))
        nets = self._get(cid)["NetworkSettings"]["Networks"]
        name = next((n for n, e in nets.items() if e["NetworkID"] == nid), None)
        if name is None:
            raise docker.errors.APIError(f"container is not connected to network {nid}")
        del nets[name]

    def connect_container_to_network(self, cid: str, nid: str, ipv4_address: str | None = None,
                                     aliases: list[str] | None = None) -> None:
        self.calls.append(("connect", nid, ipv4_address, tuple(aliases or ())))
        if nid in self.refuse_connect_to:
            raise docker.errors.APIError("refused")
        if ipv4_address in self.taken:
            raise docker.errors.APIError("Address already in use")
        attrs = self._get(cid)
        name = self.network_ids[nid]
        address = ipv4_address or ("198.18.192.2" if nid == QNET.id else "198.18.6.99")
        attrs["NetworkSettings"]["Networks"][name] = {
            "NetworkID": nid, "IPAddress": address, "Aliases": [*(aliases or []), attrs["Id"][:12]],
            "MacAddress": "02:42:00:00:00:02", "IPAMConfig": {"IPv4Address": ipv4_address} if ipv4_address else None}

    def pause(self, cid: str) -> None:
        self.calls.append(("pause", cid))
        self._get(cid)["State"].update(Status="paused", Paused=True)

    def unpause(self, cid: str) -> None:
        self.calls.append(("unpause", cid))
        self._get(cid)["State"].update(Status="running", Paused=False)

    def exec_create(self, cid: str, command: list[str]) -> dict[str, str]:
        self.calls.append(("exec", tuple(command)))
        return {"Id": str(len(self.calls))}

    def exec_start(self, exec_id: str) -> bytes:
        return b""

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return {"Running": False, "ExitCode": self.exit_codes.pop(0)}


def fake_client() -> Any:
    return SimpleNamespace(api=FakeApi())


# --- the record ------------------------------------------------------------------------------------

def test_a_record_survives_json_both_ways() -> None:
    record = ContainmentRecord(
        ref=f"container:{CID}", action="quarantine", at=1796000000.25,
        before={"networks": {"stw-abc123-lan": {"id": "lan-id", "address": "198.18.6.2", "aliases": ["web"],
                                                "mac_address": "02:42:c6:12:06:02", "static": False}},
                "state": "running"},
        after={"networks": {QNET.name: {"id": QNET.id, "address": "198.18.192.2", "aliases": [],
                                        "mac_address": "", "static": False}},
               "quarantine_network": {"name": QNET.name, "id": QNET.id}, "state": "running"},
        released_at=1796000009.5, release_after={"unrestored": [], "readdressed": []})
    again = ContainmentRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record
    assert not again.contained and again.container_id == CID
    fresh = ContainmentRecord.from_dict({"ref": "container:x", "action": "pause", "at": 1, "before": {}, "after": {}})
    assert fresh.contained and fresh.released_at is None and fresh.release_after == {}


@pytest.mark.parametrize(("data", "field"), [
    ({"action": "pause", "at": 1, "before": {}, "after": {}}, "'ref' is missing"),
    ({"ref": "container:x", "action": "kill", "at": 1, "before": {}, "after": {}}, "action 'kill'"),
])
def test_a_broken_record_is_refused_naming_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ContainmentRecord.from_dict(data)


# --- the quarantine subnets ------------------------------------------------------------------------

def taken_elsewhere() -> list[ipaddress.IPv4Network]:
    """Every other range the lab hands out: the slots' own, kind's, swarm's and the engine's pool."""
    nets = [n for slot in range(SLOTS) for n in _subnets(slot).values()]
    nets += [ipaddress.IPv4Network(f"198.19.{k}.0/24") for k in KIND_SLOTS]
    nets += [ipaddress.IPv4Network(s) for s in (POD_SUBNET, SERVICE_SUBNET, SWARM_POOL, GWBRIDGE_SUBNET,
                                                  ENGINE_ADDRESS_POOL["base"])]
    return nets


def test_every_slots_quarantine_subnet_is_its_own_and_inside_the_lab_range() -> None:
    subnets = [quarantine_subnet(slot) for slot in range(QUARANTINE_SLOTS)]  # the watches' spare ones too
    assert len(set(subnets)) == QUARANTINE_SLOTS
    assert all(s.subnet_of(LAB_RANGE) for s in subnets)
    assert not any(s.overlaps(ipaddress.IPv4Network("198.19.192.0/18")) for s in subnets)
    for i, a in enumerate(subnets):
        assert not any(a.overlaps(b) for b in subnets[i + 1:])
    others = taken_elsewhere()
    clashes = [(str(s), str(o)) for s in subnets for o in others if s.overlaps(o)]
    assert clashes == []
    assert quarantine_subnet(0) == ipaddress.IPv4Network("198.18.192.0/26")
    assert quarantine_subnet(SLOTS - 1) == ipaddress.IPv4Network("198.18.215.192/26")
    assert quarantine_subnet(7).num_addresses - 3 >= 60  # network, broadcast, gateway: room for 61 containers


@pytest.mark.parametrize("slot", [-1, QUARANTINE_SLOTS])
def test_there_is_no_quarantine_subnet_outside_the_slots(slot: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        quarantine_subnet(slot)


def slot_networks(slot: int) -> dict[str, LabNetwork]:
    return {role: LabNetwork(role=role, name=f"stw-abc123-{role}", id=f"{role}-id", subnet=subnet)
            for role, subnet in _subnets(slot).items()}


def test_the_slot_is_read_back_from_the_runs_networks() -> None:
    assert all(slot_of(slot_networks(slot)) == slot for slot in (0, 1, 47, SLOTS - 1))
    mixed = {**slot_networks(3), "lan": slot_networks(4)["lan"]}
    with pytest.raises(LabError, match="not one slot's"):
        slot_of(mixed)


class FakeNetworks:
    """The engine's network list and create, for the slot choice."""

    def __init__(self, subnets: list[str]) -> None:
        self.existing = [SimpleNamespace(attrs={"IPAM": {"Config": [{"Subnet": s}]}}) for s in subnets]
        self.created: list[dict[str, Any]] = []

    def list(self) -> list[Any]:
        return self.existing

    def create(self, name: str, **kwargs: Any) -> Any:
        self.created.append({"name": name, **kwargs})
        return SimpleNamespace(name=name, id=f"id-{name}")


def test_a_slot_whose_quarantine_subnet_is_taken_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_networks, "host_routes", lambda: [])
    engine_networks = FakeNetworks([str(quarantine_subnet(0))])  # a leftover quarantine network of slot 0
    client: Any = SimpleNamespace(networks=engine_networks)
    made = lab_networks.create_lab_networks(client, "run-1", "stw-abc123")
    assert slot_of(made) == 1
    assert [c["name"] for c in engine_networks.created] == ["stw-abc123-lan", "stw-abc123-dev", "stw-abc123-inet"]


def test_the_quarantine_network_is_internal_labelled_and_without_inter_container_traffic() -> None:
    engine_networks = FakeNetworks([])
    client: Any = SimpleNamespace(networks=engine_networks)
    made = lab_networks.create_quarantine_network(client, "run-1", "stw-abc123", 5)
    assert made.subnet == quarantine_subnet(5) and made.role == "quarantine"
    created = engine_networks.created[0]
    assert created["internal"] is True and created["labels"] == {"io.stowaway.run": "run-1"}
    assert created["options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert created["options"]["com.docker.network.bridge.name"] == "stw-abc123-quar"  # 15 characters at most
    assert created["ipam"]["Config"][0]["Subnet"] == str(quarantine_subnet(5))


# --- quarantine, pause, release ---------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "why"), [
    ("host", "shares the host's network namespace"),
    ("none", "has no network interface to move"),
    (f"container:{'d' * 64}", "shares the network namespace of dddddddddddd"),
])
def test_a_container_without_its_own_network_is_refused_and_left_alone(mode: str, why: str) -> None:
    client = fake_client()
    client.api.add(mode=mode, networks={} if mode != "host" else {"host": ("host-id", "")})
    with pytest.raises(LabError, match=f"{why}.*pause it instead"):
        q.quarantine(client, "run-1", CID, QNET)
    assert client.api.calls == []


def test_quarantine_records_every_network_then_moves_the_container() -> None:
    client = fake_client()
    client.api.add()
    journalled: list[tuple[dict[str, Any], int]] = []
    record = q.quarantine(client, "run-1", CID[:12], QNET,
                          journal=lambda r: journalled.append((r.to_dict(), len(client.api.calls))))
    assert record.ref == f"container:{CID}" and record.action == "quarantine" and record.contained
    assert record.before["networks"] == {
        "stw-abc123-lan": {"id": "lan-id", "address": "198.18.6.2", "aliases": ["web-1a2b3c"],
                           "mac_address": "02:42:00:00:00:02", "static": False},
        "stw-abc123-inet": {"id": "inet-id", "address": "198.19.3.2", "aliases": ["web-1a2b3c"],
                            "mac_address": "02:42:00:00:00:02", "static": False},
    }
    assert list(record.after["networks"]) == [QNET.name]
    assert record.after["quarantine_network"] == {"name": QNET.name, "id": QNET.id}
    assert client.api.calls == [("disconnect", "lan-id"), ("disconnect", "inet-id"), ("connect", QNET.id, None, ())]
    # The journal heard of it before anything changed, with what the reaper needs to undo it.
    assert journalled[0][1] == 0 and journalled[0][0]["before"] == record.before
    assert journalled[0][0]["after"]["quarantine_network"]["id"] == QNET.id
    assert not any(c[0] in ("kill", "restart", "stop") for c in client.api.calls)
    with pytest.raises(LabError, match="already on the quarantine network"):
        q.quarantine(client, "run-1", CID, QNET)


def test_a_failed_quarantine_puts_the_networks_back() -> None:
    client = fake_client()
    client.api.add()
    client.api.refuse_connect_to.add(QNET.id)
    with pytest.raises(LabError, match="its networks were restored"):
        q.quarantine(client, "run-1", CID, QNET)
    nets = client.api.inspect_container(CID)["NetworkSettings"]["Networks"]
    assert {n: e["IPAddress"] for n, e in nets.items()} == {"stw-abc123-lan": "198.18.6.2",
                                                             "stw-abc123-inet": "198.19.3.2"}


def test_release_puts_back_each_network_with_its_address_and_aliases_once() -> None:
    client = fake_client()
    client.api.add()
    record = q.quarantine(client, "run-1", CID, QNET)
    client.api.calls.clear()
    released: list[ContainmentRecord] = []
    assert q.release(client, record, journal=released.append) is record
    assert ("connect", "lan-id", "198.18.6.2", ("web-1a2b3c",)) in client.api.calls
    assert ("connect", "inet-id", "198.19.3.2", ("web-1a2b3c",)) in client.api.calls
    assert client.api.calls[-1] == ("disconnect", QNET.id)
    assert record.released_at is not None and released == [record]
    assert record.release_after["unrestored"] == [] and record.release_after["readdressed"] == []
    assert {n: e["address"] for n, e in record.release_after["networks"].items()} == \
        {n: e["address"] for n, e in record.before["networks"].items()}
    client.api.calls.clear()
    q.release(client, record)  # idempotent: nothing more happens
    assert client.api.calls == [] and released == [record]


def test_release_says_what_it_could_not_restore_and_why() -> None:
    client = fake_client()
    client.api.add()
    record = q.quarantine(client, "run-1", CID, QNET)
    del client.api.network_ids["inet-id"]  # the network was removed meanwhile
    client.api.taken.add("198.18.6.2")  # and the LAN address was given to someone else
    q.release(client, record)
    assert record.release_after["unrestored"] == [
        {"network": "stw-abc123-inet", "reason": f"network stw-abc123-inet ({'inet-id'[:12]}) no longer exists"}]
    assert record.release_after["readdressed"] == [{"network": "stw-abc123-lan", "address": "198.18.6.99",
                                                   "was": "198.18.6.2"}]
    assert QNET.name not in record.release_after["networks"]


def test_release_of_a_container_that_is_gone_says_so() -> None:
    client = fake_client()
    client.api.add()
    record = q.quarantine(client, "run-1", CID, QNET)
    client.api.containers.clear()
    q.release(client, record)
    assert record.release_after["gone"] is True and not record.contained
    assert {u["network"] for u in record.release_after["unrestored"]} == {"stw-abc123-lan", "stw-abc123-inet"}


def test_pause_and_release() -> None:
    client = fake_client()
    client.api.add()
    record = q.pause(client, CID)
    assert record.action == "pause" and record.before == {"state": "running", "paused": False}
    assert record.after == {"state": "paused", "paused": True}
    with pytest.raises(LabError, match="already paused"):
        q.pause(client, CID)
    q.release(client, record)
    assert record.release_after == {"state": "running", "paused": False}
    assert [c[0] for c in client.api.calls] == ["pause", "unpause"]


def test_a_stopped_container_is_not_paused() -> None:
    client = fake_client()
    client.api.add(running=False)
    with pytest.raises(LabError, match="not running"):
        q.pause(client, CID)


# --- the probe ------------------------------------------------------------------------------------

@pytest.mark.parametrize("address", ["192.0.2.10", "10.0.0.1", "upstream.example", "::1:2", "198.20.0.1"])
def test_the_probe_never_aims_outside_the_lab(address: str) -> None:
    client = fake_client()
    client.api.add()
    with pytest.raises(LabError, match=r"outside the lab range|not an IP address"):
        q.can_connect(client, CID, address, 80)
    assert client.api.calls == []


@pytest.mark.parametrize(("codes", "reached", "programs"), [
    ([0], True, ["python3"]),
    ([1], False, ["python3"]),
    ([127, 0], True, ["python3", "nc"]),  # no python3 in the image: netcat
    ([126, 1], False, ["python3", "nc"]),
])
def test_the_probe_is_a_connect_from_inside(codes: list[int], reached: bool, programs: list[str]) -> None:
    client = fake_client()
    client.api.add()
    client.api.exit_codes = list(codes)
    assert q.can_connect(client, CID, "198.19.3.10", 443, timeout_s=2.0) is reached
    execs = [c[1] for c in client.api.calls if c[0] == "exec"]
    assert [e[0] for e in execs] == programs
    assert execs[0][-3:] == ("198.19.3.10", "443", "2")


def test_a_container_with_nothing_to_connect_with_is_an_error() -> None:
    client = fake_client()
    client.api.add()
    client.api.exit_codes = [127, 127]
    with pytest.raises(LabError, match="neither python3 nor nc"):
        q.can_connect(client, CID, "127.0.0.1", 80)


def test_a_paused_container_connects_nowhere_without_an_attempt() -> None:
    client = fake_client()
    client.api.add(paused=True)
    assert q.can_connect(client, CID, "198.19.3.10", 80) is False
    assert client.api.calls == []


# --- the reaper's side, and the session's ---------------------------------------------------------

def test_the_reaper_releases_what_a_dead_run_held_and_only_that() -> None:
    client = fake_client()
    client.api.add(CID)
    client.api.add("e" * 64)
    held = q.quarantine(client, "run-1", CID, QNET)
    done = q.pause(client, "e" * 64)
    entries: list[dict[str, Any]] = [{"kind": "containment", "record": held.to_dict()},
               {"kind": "containment", "record": done.to_dict()},
               {"kind": "containment-released", "ref": done.ref, "action": "pause"}]
    assert q.release_journalled(client, entries) == 1
    nets = client.api.inspect_container(CID)["NetworkSettings"]["Networks"]
    assert set(nets) == {"stw-abc123-lan", "stw-abc123-inet"}
    assert client.api.inspect_container("e" * 64)["State"]["Paused"] is True  # its release was journalled


def session_on(client: Any, tmp_path: Any) -> LabSession:
    session = LabSession(run_id="20990101-000000-abc123", paths=LabPaths(state=tmp_path / "s", runtime=tmp_path / "r"))
    session.engine = SimpleNamespace(client=client)  # type: ignore[assignment]
    session.networks = slot_networks(5)
    return session


def test_the_session_makes_its_quarantine_network_once_and_journals_each_action(tmp_path: Any) -> None:
    client = fake_client()
    client.networks = FakeNetworks([])
    client.api.add()
    session = session_on(client, tmp_path)
    client.api.network_ids[f"id-{session.prefix}-quarantine"] = f"{session.prefix}-quarantine"
    record = session.quarantine(f"container:{CID[:12]}")
    assert session.quarantine(f"container:{CID}") is record  # already held: the same record
    assert len(client.networks.created) == 1 and session.quarantine_network().subnet == quarantine_subnet(5)
    assert session.containments == [record]
    session.release(record)
    kinds = [e["kind"] for e in journal.entries(session.paths, session.run_id)]
    assert kinds == ["containment", "containment-released"]
    assert session._release_all() == []  # nothing left to release


def test_the_session_releases_what_it_still_holds(tmp_path: Any) -> None:
    client = fake_client()
    client.networks = FakeNetworks([])
    client.api.add()
    session = session_on(client, tmp_path)
    client.api.network_ids[f"id-{session.prefix}-quarantine"] = f"{session.prefix}-quarantine"
    record = session.pause(f"container:{CID}")
    assert session._release_all() == [] and not record.contained
    assert client.api.inspect_container(CID)["State"]["Paused"] is False


@pytest.mark.parametrize("ref", ["service:abc", "pod:abc", "abc", "container:"])
def test_the_session_quarantines_containers_only(ref: str, tmp_path: Any) -> None:
    session = session_on(fake_client(), tmp_path)
    with pytest.raises(LabError, match="quarantine and pause act on containers"):
        session.quarantine(ref)
