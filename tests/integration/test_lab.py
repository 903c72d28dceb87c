"""The lab substrate against the real engine: networks, sinkhole, image cache, teardown, reaper."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from python_on_whales import DockerClient

from lab import LabSession, WorkloadSpec
from lab import engine as engine_mod
from lab.bookkeeping import RUN_LABEL, RunRecord
from lab.images import ImageRecipe, ensure_base_image
from lab.paths import LabPaths

pytestmark = pytest.mark.integration
LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")


@pytest.fixture
def observer(lab_session):
    """Hold our own lease so the engine stays up while we look at what a finished run left."""
    lease = f"pytest-observer-{os.getpid()}"
    engine = engine_mod.acquire(lease)
    try:
        yield engine
    finally:
        engine_mod.release(engine, lease)


def cli_view(engine, run_id: str) -> dict[str, list]:
    """What the docker CLI itself shows of one run (python-on-whales drives the real CLI)."""
    docker = DockerClient(host=engine.base_url)
    flt = [("label", f"{RUN_LABEL}={run_id}")]
    return {
        "containers": docker.container.list(all=True, filters=flt),
        "networks": docker.network.list(filters=flt),
        "volumes": docker.volume.list(filters=flt),
    }


def iptables_mentions(run_id: str) -> int:
    dump = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout
    return dump.count(f"stowaway:{run_id}")


def test_networks_are_internal_and_inside_the_lab_range(lab_session):
    client = lab_session.engine.client
    for role, net in lab_session.networks.items():
        attrs = client.networks.get(net.id).attrs
        assert attrs["Internal"] is True, role
        assert net.subnet.subnet_of(LAB_RANGE), role


def test_sinkhole_answers_on_its_ports_and_records_what_it_got(lab_session):
    lab = lab_session.scope("sinkhole-test")
    try:
        client = lab.deploy(WorkloadSpec(role="probe", networks=("inet",)))
        sink = lab.sinkhole.address
        for port in lab.sinkhole.ports:
            out = lab.exec(client, "sh", "-c", f"printf 'hello-{port}\\r\\n\\r\\n' | nc -w 2 -q 1 {sink} {port}").output
            assert out.strip(), f"no answer on {port}"
        lab.wait_for(lambda: len(lab.sinkhole_records(peer=client.addresses["inet"])) >= len(lab.sinkhole.ports),
                     timeout=10, what="sinkhole records")
        got = {r["port"]: r["head"] for r in lab.sinkhole_records(peer=client.addresses["inet"])}
        for port in lab.sinkhole.ports:
            assert got[port].startswith(f"hello-{port}")
    finally:
        assert lab.unwind() == []


def test_nothing_from_the_lab_range_is_forwarded_off_it(lab_session):
    """Internal networks keep a route to their bridge, so the host FORWARD chain is the wall: the
    lab's guard rules must come before any rule that accepts traffic. We check the rules rather than
    send a probe: the lab never sends a packet outside its range, even one meant to be dropped."""
    listing = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=True).stdout
    rules = [line for line in listing.splitlines() if line.startswith("-A FORWARD")]
    tag = f"stowaway:{lab_session.run_id}"
    guards = [i for i, rule in enumerate(rules) if tag in rule]
    assert len(guards) == 2 and all(rules[i].endswith("-j DROP") for i in guards)
    accepts = [i for i, rule in enumerate(rules) if rule.endswith("-j ACCEPT")]
    assert not accepts or max(guards) < min(accepts), listing
    client = lab_session.engine.client
    assert all(client.networks.get(net.id).attrs["Internal"] for net in lab_session.networks.values())


def test_second_image_request_builds_nothing(lab_session, monkeypatch):
    import lab.images as images

    def no_build(*_args, **_kwargs):
        raise AssertionError("the cached image should have been used")

    monkeypatch.setattr(images, "_bootstrap", no_build)
    assert ensure_base_image(lab_session.engine) == ImageRecipe().tag


def test_teardown_leaves_nothing(observer):
    session = LabSession().up()
    try:
        lab = session.scope("t")
        lab.deploy(WorkloadSpec(role="web", networks=("lan", "inet")))
        assert cli_view(observer, session.run_id)["containers"]
        assert iptables_mentions(session.run_id) == 3  # the guard: FORWARD out, FORWARD in, INPUT to the host
    except BaseException:
        session.down(status="aborted")  # a failed check must not leave its lab up for the next test
        raise
    assert session.down() == []
    assert cli_view(observer, session.run_id) == {"containers": [], "networks": [], "volumes": []}
    assert iptables_mentions(session.run_id) == 0
    assert not session.host_root.exists()


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from lab import LabSession, WorkloadSpec
    session = LabSession().up()
    lab = session.scope("killed")
    lab.deploy(WorkloadSpec(role="web", networks=("lan", "inet")))
    lab.host_dir("marker").joinpath("m").write_text("x")
    print(session.run_id, flush=True)
    time.sleep(600)
""")


def test_sigkill_halfway_then_a_fresh_run_reaps_everything(observer):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN], stdout=subprocess.PIPE, text=True)
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, "the doomed run did not come up"
        assert cli_view(observer, run_id)["containers"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    left = iptables_mentions(run_id)
    fresh = LabSession().up()  # the next run's reaper removes what the kill left (whatever is asserted)
    try:
        assert left == 3  # the kill really left things behind (the three guard rules)
        assert cli_view(observer, run_id) == {"containers": [], "networks": [], "volumes": []}
        assert iptables_mentions(run_id) == 0
        record = RunRecord.load(LabPaths.default().runs / f"{run_id}.json")
        assert record is not None and record.status == "aborted"
    finally:
        fresh.down()


def test_sigterm_tears_down(observer):
    script = KILLED_RUN.replace("session = LabSession().up()", textwrap.dedent("""
        import signal
        def stop(*_):
            raise SystemExit(1)
        signal.signal(signal.SIGTERM, stop)
        session = LabSession().__enter__()
        import atexit
        atexit.register(session.down)
    """))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and cli_view(observer, run_id)["containers"]:
        time.sleep(0.2)
    assert cli_view(observer, run_id) == {"containers": [], "networks": [], "volumes": []}
    assert iptables_mentions(run_id) == 0
