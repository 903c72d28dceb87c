"""Containment against the real lab engine: a quarantined container reaches nothing (the lab
internet's own record proves it, and a probe from inside fails), two contained containers cannot
reach each other, a paused one keeps its processes, release gives back exactly what was taken, and
a run's teardown leaves nothing contained and no quarantine network behind."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from lab import RUN_LABEL, LabPaths, LabSession, WorkloadSpec, reap
from lab import engine as engine_mod

pytestmark = pytest.mark.integration

LISTENER = ("python3", "-m", "http.server", "8080", "--bind", "0.0.0.0")


def networks_of(lab_session, workload) -> dict[str, str]:
    """The container's networks and IPv4 addresses, as the engine reports them now."""
    attrs = lab_session.engine.client.api.inspect_container(workload.id)
    return {name: e["IPAddress"] for name, e in attrs["NetworkSettings"]["Networks"].items()}


def listening(lab_session, workload) -> bool:
    return lab_session.can_connect(workload.ref, "127.0.0.1", 8080, timeout_s=1.0)


def test_a_quarantined_container_reaches_nothing_and_release_gives_it_back(lab_session, lab):
    sink = lab_session.sinkhole_endpoint
    box = lab.deploy(WorkloadSpec(role="batch", networks=("lan", "inet")))
    before = networks_of(lab_session, box)
    source = box.addresses["inet"]
    assert lab_session.can_connect(box.ref, sink.address, 443)
    # Positive control: the lab internet records a connection from it (so an empty record below means something).
    lab.wait_for(lambda: lab_session.sinkhole_records(peer=source), timeout=10, what="the sinkhole's record of it")

    record = lab_session.quarantine(box.ref)
    assert record.ref == f"container:{box.id}" and record.contained
    assert {name: net["address"] for name, net in record.before["networks"].items()} == before
    quarantine = lab_session.quarantine_network()
    assert set(networks_of(lab_session, box)) == {quarantine.name}
    assert quarantine.name not in {n.name for n in lab_session.networks.values()}  # nothing deploys there
    attrs = lab_session.engine.client.api.inspect_network(quarantine.id)
    assert attrs["Internal"] is True and attrs["Labels"] == {RUN_LABEL: lab_session.run_id}
    assert attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"

    for port in (443, 80):
        assert not lab_session.can_connect(box.ref, sink.address, port, timeout_s=1.5)
    state = lab_session.engine.client.api.inspect_container(box.id)["State"]
    assert state["Running"] and not state["Paused"]  # contained, not stopped: its processes are the evidence
    time.sleep(1.0)  # anything that did get through would be in the record by now
    addresses = {*before.values(), *networks_of(lab_session, box).values()}
    late = [r for r in lab_session.sinkhole_records() if r.get("peer") in addresses and r["ts"] > record.at]
    assert late == [], late

    assert lab_session.release(record) is record and not record.contained
    assert record.release_after["unrestored"] == [] and record.release_after["readdressed"] == []
    assert networks_of(lab_session, box) == before  # every network back, each with its own address
    released_at = record.released_at
    assert lab_session.release(record).released_at == released_at  # idempotent
    assert lab_session.can_connect(box.ref, sink.address, 443)
    lab.wait_for(lambda: [r for r in lab_session.sinkhole_records(peer=source) if r["ts"] > released_at],
                 timeout=10, what="the sinkhole's record of it after release")


def test_two_quarantined_containers_cannot_reach_each_other(lab_session, lab):
    server = lab.deploy(WorkloadSpec(role="web", networks=("lan",), command=LISTENER))
    client = lab.deploy(WorkloadSpec(role="worker", networks=("lan",)))
    bystander = lab.deploy(WorkloadSpec(role="cache", networks=("lan",), command=LISTENER))
    lab.wait_for(lambda: listening(lab_session, server) and listening(lab_session, bystander), timeout=20,
                 what="the listeners")
    assert lab_session.can_connect(client.ref, server.addresses["lan"], 8080)  # positive control, on the LAN

    held = [lab_session.quarantine(server.ref), lab_session.quarantine(client.ref)]
    quarantine = lab_session.quarantine_network().name
    server_address = networks_of(lab_session, server)[quarantine]
    assert ipaddress.ip_address(server_address) in lab_session.quarantine_network().subnet
    # On one bridge, one subnet, and still nothing passes between them: inter-container traffic is off.
    assert not lab_session.can_connect(client.ref, server_address, 8080, timeout_s=1.5)
    # Nor to a container that is not contained, on the network it was taken off.
    assert not lab_session.can_connect(client.ref, bystander.addresses["lan"], 8080, timeout_s=1.5)
    # The server's process kept running through it: it still answers inside its own namespace.
    assert listening(lab_session, server)
    assert lab_session.can_connect(server.ref, server_address, 8080)

    for record in held:
        lab_session.release(record)
    assert lab_session.can_connect(client.ref, server.addresses["lan"], 8080)


def test_pause_freezes_and_release_thaws_the_same_processes(lab_session, lab):
    sink = lab_session.sinkhole_endpoint
    box = lab.deploy(WorkloadSpec(role="batch", networks=("inet",), command=(
        "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done")))
    api = lab_session.engine.client.api
    pid = api.inspect_container(box.id)["State"]["Pid"]

    def counter() -> int:
        return int(lab.exec(box, "cat", "/tmp/n").output.strip() or 0)

    lab.wait_for(lambda: counter() > 0, timeout=10, what="the counter to start")
    record = lab_session.pause(box.ref)
    assert record.action == "pause" and record.after == {"state": "paused", "paused": True}
    assert lab_session.pause(box.ref) is record  # already held by this run: the same record
    state = api.inspect_container(box.id)["State"]
    assert state["Paused"] and state["Pid"] == pid
    assert not lab_session.can_connect(box.ref, sink.address, 443)
    lab_session.release(record)
    assert record.release_after == {"state": "running", "paused": False}
    assert api.inspect_container(box.id)["State"]["Pid"] == pid  # the same process, thawed, not restarted
    first = counter()
    lab.wait_for(lambda: counter() > first, timeout=10, what="the counter to move again")
    assert lab_session.can_connect(box.ref, sink.address, 443)


@pytest.fixture
def observer(lab_session):
    """Our own lease, so the engine stays up while we look at what a finished run left."""
    lease = f"pytest-quarantine-observer-{os.getpid()}"
    engine = engine_mod.acquire(lease)
    try:
        yield engine
    finally:
        engine_mod.release(engine, lease)


def test_teardown_releases_what_is_still_contained_and_leaves_nothing(observer, lab_session, lab):
    # A container this run did not make (the shared session's), to be given back, not removed.
    outsider = lab.deploy(WorkloadSpec(role="api", networks=("lan",)))
    outsider_before = networks_of(lab_session, outsider)
    session = LabSession().up()
    try:
        scope = session.scope("contained")
        moved = scope.deploy(WorkloadSpec(role="batch", networks=("lan", "inet")))
        frozen = scope.deploy(WorkloadSpec(role="worker", networks=("lan",)))
        session.quarantine(moved.ref)
        session.pause(frozen.ref)
        session.quarantine(outsider.ref)
        assert set(networks_of(lab_session, outsider)) == {session.quarantine_network().name}
    except BaseException:
        session.down(status="aborted")
        raise
    assert session.down() == []  # no scope unwound: teardown alone must undo it all
    flt = {"label": f"{RUN_LABEL}={session.run_id}"}
    assert observer.client.containers.list(all=True, filters=flt) == []
    assert observer.client.networks.list(filters=flt) == []
    assert not (session.paths.state / "journal" / f"{session.run_id}.jsonl").exists()
    assert networks_of(lab_session, outsider) == outsider_before
    state = observer.client.api.inspect_container(outsider.id)["State"]
    assert state["Running"] and not state["Paused"]


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from lab import LabSession
    session = LabSession().up()
    session.quarantine(sys.argv[1])
    print(session.run_id, flush=True)
    time.sleep(600)
""")


def test_a_killed_runs_quarantine_is_undone_by_the_reaper(observer, lab_session, lab):
    """SIGKILL leaves no teardown: the run's journal tells the reaper what it held, and the reaper
    gives a container the run did not make back to its networks before removing the quarantine network."""
    outsider = lab.deploy(WorkloadSpec(role="api", networks=("lan", "inet")))
    before = networks_of(lab_session, outsider)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, outsider.ref], stdout=subprocess.PIPE, text=True)
    try:
        run_id = (proc.stdout.readline() if proc.stdout else "").strip()
        assert run_id, "the doomed run did not come up"
        assert set(networks_of(lab_session, outsider)) == {f"stw-{run_id[-6:]}-quarantine"}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    report = reap(observer.client, LabPaths.default(), only={run_id})
    assert report.containments == 1
    assert networks_of(lab_session, outsider) == before
    flt = {"label": f"{RUN_LABEL}={run_id}"}
    assert observer.client.containers.list(all=True, filters=flt) == []
    assert observer.client.networks.list(filters=flt) == []
