"""`stowaway respond` and `stowaway release` against a running `stowaway watch`: a container that calls
out is quarantined on request, stays so (the lab internet and a probe from inside prove it) until
`release`, which gives it back; a watch that stops releases what it still holds."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from typing import Any

import pytest

from lab import RUN_LABEL, WorkloadSpec
from tests.integration.cli_helpers import ROOT, environment, stowaway, stowaway_command

pytestmark = pytest.mark.integration
EGRESS = "stowaway.net.egress-not-allowlisted"


class Watch:
    """A `stowaway watch` subprocess, its alert lines read on a thread as they come."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(stowaway_command("watch", "--duration", "600", *args), cwd=ROOT,
                                        env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        banner = self.process.stderr.readline()  # type: ignore[union-attr]
        assert banner.startswith("watching "), banner

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            if line.strip():
                self.lines.put(json.loads(line))

    def alert(self, rule_id: str, ref: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line["rule_id"] == rule_id and line["object"] == ref:
                return line
        raise AssertionError(f"the watch raised no {rule_id} on {ref} in {timeout:.0f}s")

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=120)
        assert self.process.returncode == 0, stderr
        return stderr


def networks_of(lab_session, ref: str) -> dict[str, str]:
    attrs = lab_session.engine.client.api.inspect_container(ref.removeprefix("container:"))
    return {name: e["IPAddress"] for name, e in attrs["NetworkSettings"]["Networks"].items()}


def test_respond_quarantines_until_release_and_a_stopping_watch_gives_back_the_rest(lab_session, lab, tmp_path):
    evidence = tmp_path / "evidence"
    watch = Watch("--evidence", str(evidence), "--triage")
    try:
        sink = lab_session.sinkhole_endpoint
        box = lab.deploy(WorkloadSpec(role="reports", networks=("lan", "inet"), command=("sleep", "600")))
        before = networks_of(lab_session, box.ref)
        time.sleep(1.0)  # the packet sensor learns the container's addresses from the engine's events
        lab.exec(box, "sh", "-c", f"echo hello | nc -w 2 -q 1 {sink.address} 8080", check=False)
        line = watch.alert(EGRESS, box.ref)
        # --triage: the line carries explain-alert's sections, read from what the watch saw of it
        facts = {f["name"]: f["value"] for f in line["triage"]["workload"]["facts"]}
        assert lab_session.image.split(":")[0] in str(facts["image"]) and facts["log driver"], facts
        explained = stowaway("explain-alert", "--live", str(line["id"]))
        assert explained.returncode == 0, explained.stderr
        assert box.id[:12] in explained.stdout and "what could make it benign" in explained.stdout.lower()

        done = stowaway("respond", str(line["id"]), "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        answer = json.loads(done.stdout)
        response = answer["response"]
        assert answer["held"] and answer["lab_run"] == lab_session.run_id
        assert response["playbook"] == "contain-egress" and response["action"] == "quarantine"
        assert any("failed" in c and sink.address in c for c in response["checks"]), response["checks"]
        assert response["evidence_complete"] and response["evidence"].startswith(str(evidence))
        # Held after the command returned: the watch keeps it contained, checked here from outside.
        assert set(networks_of(lab_session, box.ref)) == {lab_session_quarantine_name(lab_session, watch)}
        assert not lab_session.can_connect(box.ref, sink.address, 443, timeout_s=1.5)

        again = stowaway("respond", str(line["id"]))
        assert again.returncode == 2 and "contained already" in again.stderr

        back = stowaway("release", f"container:{box.id[:12]}")
        assert back.returncode == 0, back.stdout + back.stderr
        assert "back, proved" in back.stdout
        assert networks_of(lab_session, box.ref) == before
        assert lab_session.can_connect(box.ref, sink.address, 443)

        # Contained once more and left so: the watch gives it back when it stops.
        held = stowaway("respond", str(line["id"]))
        assert held.returncode == 0, held.stdout + held.stderr
        assert "held until `stowaway release" in held.stdout
    finally:
        stderr = watch.stop()
    assert f"released container:{box.id} (proved" in stderr, stderr
    assert networks_of(lab_session, box.ref) == before
    leftover = lab_session.engine.client.networks.list(filters={"name": "quarantine"})
    assert not [n for n in leftover if n.attrs["Labels"].get(RUN_LABEL) != lab_session.run_id], leftover


def lab_session_quarantine_name(lab_session, watch: Watch) -> str:
    """The watch's quarantine network: labelled with the watch's run, not the lab run's."""
    client = lab_session.engine.client
    nets = [n for n in client.networks.list(filters={"name": "quarantine"})
            if n.attrs["Labels"].get(RUN_LABEL) not in (None, lab_session.run_id)]
    assert len(nets) == 1, [n.name for n in nets]
    return nets[0].name


def test_respond_without_a_watch_is_refused(tmp_path):
    result = stowaway("respond", "1")
    assert result.returncode == 2 and "no `stowaway watch` is running" in result.stderr
