"""Other detectors graded in real runs: a tool posting to the loopback receiver, and the lab's own auditd.

The tool of the first test is a real, if small, external detector: it watches the lab's engine from
outside (as a production agent would watch its node's runtime) and posts a generic alert over HTTP
for every privileged container it sees start. It knows nothing of scenarios; the harness must place
its alerts by the container ids they name.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from pathlib import Path

import docker
import pytest

from harness.external.auditd import AuditdDetector, AuditdUnavailable, audit_rules, audit_status, find_binary
from harness.external.formats import parse_generic
from harness.external.mapping import DetectorMapping, Expected, load_mapping, shipped_mappings
from harness.external.sources import HttpReceiver
from harness.runner import RunOptions, run
from lab import LabPaths

pytestmark = pytest.mark.integration

PRIVILEGED = "docker.escape.nsenter-host"
PRIVILEGED_TWIN = "docker.escape.monitoring-agent"
UNPRIVILEGED = "docker.logging.log-driver-none"


def privileged_watcher(url: str, stop: threading.Event, seen: list[str]) -> None:
    """Poll the engine (at most 10 minutes, every 0.3 s) and post one alert per privileged container.
    The run brings the engine up after this starts: until then there is nothing to watch."""
    client: docker.DockerClient | None = None
    deadline = time.monotonic() + 600
    try:
        while not stop.wait(0.3) and time.monotonic() < deadline:
            if client is None:
                try:
                    client = docker.DockerClient(base_url=f"unix://{LabPaths.default().engine_socket}", timeout=10)
                    client.ping()
                except docker.errors.DockerException:
                    client = None
                    continue
            for container_id in (c["Id"] for c in client.api.containers()):
                try:
                    privileged = client.api.inspect_container(container_id)["HostConfig"].get("Privileged")
                except docker.errors.NotFound:
                    continue  # gone between the listing and the look: another run's, or a short one
                if container_id in seen or not privileged:
                    continue
                seen.append(container_id)
                body = json.dumps({"rule": "privileged-container", "time": time.time(),
                                   "container_id": container_id, "severity": "high"}).encode()
                request = urllib.request.Request(url, data=body, method="POST")
                urllib.request.urlopen(request, timeout=5).close()
    finally:
        if client is not None:
            client.close()


def test_a_tool_posting_over_http_is_graded_by_the_containers_it_names(registry, tmp_path: Path) -> None:
    receiver = HttpReceiver(lambda record, name: parse_generic(record, name), "watcher")
    mapping = DetectorMapping(detector="watcher", format="generic", path="(test)",
                              expect={PRIVILEGED: Expected(fires=("privileged-container",))})
    stop, seen = threading.Event(), []
    tool = threading.Thread(target=privileged_watcher, args=(f"http://127.0.0.1:{receiver.port}/", stop, seen))
    tool.start()
    try:
        result = run([registry.get(i) for i in (PRIVILEGED, PRIVILEGED_TWIN, UNPRIVILEGED)],
                     RunOptions(external=[(receiver, mapping)], progress=lambda _m: None, parallel=3))
    finally:
        stop.set()
        tool.join(timeout=30)
    assert seen, "the watcher saw no privileged container: nothing was graded"
    report, = result.external
    verdicts = {r.scenario_id: r.verdict.value for r in report.results}
    assert verdicts == {PRIVILEGED: "detected", PRIVILEGED_TWIN: "false_positive", UNPRIVILEGED: "no_expectation"}
    assert report.source.startswith("http://127.0.0.1:") and report.unreadable == 0
    assert result.passed  # the embedded detectors' verdicts are untouched by the external grade


def _audit_idle() -> str | None:
    if find_binary("auditd") is None:
        if os.environ.get("STOWAWAY_REQUIRE_ENGINE") == "1":  # CI installs it: a skip there would hide a break
            pytest.fail("auditd is not installed (.ci/run installs it)")
        return "auditd is not installed (apt-get install auditd)"
    status = audit_status()
    if status.pid or audit_rules():
        return "the host's audit subsystem is in use: this lab never takes it over"
    return None


def test_the_labs_auditd_catches_an_nsenter_escape_and_leaves_the_kernel_as_found(registry, tmp_path: Path) -> None:
    reason = _audit_idle()
    if reason is not None:
        pytest.skip(reason)
    before = audit_status()
    mapping = load_mapping(next(p for p in shipped_mappings() if p.stem == "auditd"))
    source = AuditdDetector(tmp_path / "auditd", detector="auditd")
    try:
        result = run([registry.get(PRIVILEGED)], RunOptions(external=[(source, mapping)], progress=lambda _m: None))
    except AuditdUnavailable as exc:
        pytest.fail(f"auditd could not run although the host looked idle: {exc}")
    report, = result.external
    outcome, = report.results
    assert outcome.verdict.value == "detected", outcome.reason
    assert outcome.latency_s is not None and outcome.latency_s < 30
    assert any("rules loaded" in note for note in report.notes)
    after = audit_status()
    assert (after.pid, after.enabled, after.backlog_limit) == (0, before.enabled, before.backlog_limit)
    assert audit_rules() == ()
