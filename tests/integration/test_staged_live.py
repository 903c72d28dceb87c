"""`stowaway detonate --keep` then `stowaway revert`, for real, each a fresh process: the kept container
stays on the lab engine (through `stowaway reap` too) until revert, and then nothing of its run is left."""

from __future__ import annotations

import json
import os

import docker.errors
import pytest

from harness import staged_state
from lab import RUN_LABEL, EngineUnavailable, LabPaths
from lab import engine as engine_mod
from tests.integration.cli_helpers import LOGGING_PAIR, run_leftovers, stowaway

pytestmark = pytest.mark.integration
SCENARIO = LOGGING_PAIR[0]  # docker.logging.log-driver-none: detected within a second, a few seconds in all


@pytest.fixture
def observer(request):
    """Our own lease on the lab engine, to look at what the kept detonation left while the commands come
    and go (another run may share the engine meanwhile: it is never stopped from here)."""
    lease = f"pytest-staged-{os.getpid()}"
    try:
        engine = engine_mod.acquire(lease)
    except EngineUnavailable as exc:
        if request.config.getoption("--require-engine") or os.environ.get("STOWAWAY_REQUIRE_ENGINE") == "1":
            pytest.fail(f"no Docker engine: {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    try:
        yield engine
    finally:
        engine_mod.release(engine, lease)


def _labelled(client, run_id: str) -> dict[str, list[str]]:
    label = {"label": f"{RUN_LABEL}={run_id}"}
    found = {"containers": [c.id for c in client.containers.list(all=True, filters=label, sparse=True)],
             "networks": [n.name for n in client.networks.list(filters=label)],
             "volumes": [v.name for v in client.volumes.list(filters=label)]}
    return {kind: items for kind, items in found.items() if items}


def test_detonate_keep_then_revert_leaves_nothing(observer):
    paths = LabPaths.default()
    record_path = staged_state.record_path(paths, SCENARIO)
    if record_path.exists():
        pytest.skip(f"{SCENARIO} is already kept on this host ({record_path}): not ours to revert")
    client = observer.client

    detonated = stowaway("detonate", SCENARIO, "--keep", timeout=300)
    try:
        assert detonated.returncode == 0, detonated.stdout + detonated.stderr
        assert detonated.stdout.startswith("run ") and "PASS (1 detected)" in detonated.stdout
        assert "stowaway.docker.logging-disabled (high) on container:" in detonated.stdout
        assert f"undo:    stowaway revert {SCENARIO}" in detonated.stdout
        record = json.loads(record_path.read_text())
        assert record["status"] == "kept" and record["scenario_id"] == SCENARIO and record["verdict"] == "detected"
        run_id, holder = record["run_id"], record["holder_pid"]
        containers = [ref.partition(":")[2] for ref in record["objects"] if ref.startswith("container:")]
        assert containers and record["kept_at"] >= record["started_at"]

        # Kept: the scenario's container (and its run's lab) is still on the engine after detonate returned.
        for container_id in containers:
            assert client.containers.get(container_id).labels[RUN_LABEL] == run_id
        assert engine_mod._pid_alive(holder)
        assert (paths.leases / run_id).read_text().strip() == str(holder)  # the holder's own engine lease

        status = stowaway("lab", "status")
        assert status.returncode == 0, status.stderr
        assert f"{SCENARIO}  run {run_id}  holder pid {holder}, kept since" in status.stdout
        assert f"{run_id}: " in status.stdout and f"kept detonation of {SCENARIO}" in status.stdout

        reaped = stowaway("reap")
        assert reaped.returncode == 0, reaped.stderr
        assert "kept detonation(s), live on purpose: " in reaped.stdout
        assert f"{SCENARIO} (run {run_id})" in reaped.stdout
        for container_id in containers:
            client.containers.get(container_id)  # the reaper left it: raises NotFound otherwise

        again = stowaway("detonate", SCENARIO, "--keep")
        assert again.returncode == 2 and f"`stowaway revert {SCENARIO}`" in again.stderr, again.stderr

        reverted = stowaway("revert", SCENARIO, timeout=400)
        assert reverted.returncode == 0, reverted.stdout + reverted.stderr
        assert f"remove container:{containers[0]}" in reverted.stdout
        assert "nothing of it is left; state record removed" in reverted.stdout
    finally:
        if record_path.exists():  # never leave a kept detonation behind a failed assertion
            stowaway("revert", SCENARIO, timeout=400)

    for container_id in containers:
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(container_id)
    assert _labelled(client, run_id) == {}
    assert run_leftovers(run_id) == {}  # labelled containers, iptables rules, tracefs instances, host dir
    assert not record_path.exists()
    assert not engine_mod._pid_alive(holder) and not (paths.leases / run_id).exists()

    twice = stowaway("revert", SCENARIO)
    assert twice.returncode == 2 and "no kept detonation to revert" in twice.stderr
