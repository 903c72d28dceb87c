"""The neutrality scan (harness/neutrality.py) on recorded telemetry and on the scenario modules.

The live check is tests/integration/test_scenarios.py (every event of the docker suite). Here: the
scanner's rules on chosen values, every recorded fixture under tests/fixtures, and the strings the
scenario modules send into the lab.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from harness.neutrality import Matcher, TelemetryScan, scan_event, scenario_needles
from scenarios.registry import load

FIXTURES = Path(__file__).parents[1] / "fixtures"
SCENARIOS = Path(__file__).parents[2] / "scenarios"
IDS = [s.id for s in load().all()]

# Recorded before host directories, markers and the sinkhole had neutral names (the lab named them
# after the scenario id, "escape", and "sinkhole"). Replaying them is still sound, since no detector
# reads names, but they hold the old words; re-recording one drops it from this list (the test
# below fails until it is removed, so the list only shrinks).
RECORDED_BEFORE_NEUTRAL_NAMES = {
    "docker/escape_host_root_chroot.json": {"docker.escape.host-root-chroot", "escape"},
    "docker/escape_nsenter_host.json": {"docker.escape.nsenter-host", "escape"},
    "host/host-mount-tamper.json": {"docker.fim.host-mount-tamper"},
    "net/batch_beacon.events.json": {"sinkhole"},
    "net/exfil_burst.events.json": {"sinkhole"},
    "net/name_hijack.events.json": {"sinkhole"},
    "net/nat_redirect.events.json": {"sinkhole"},
    "net/relay.events.json": {"sinkhole"},
    "net/sanctioned_proxy.events.json": {"scenario", "sinkhole"},  # the repository path of its proxy script
    "swarm/tamper_service_spec_drift.json": {"swarm.tamper.service-spec-drift"},
}


def matcher() -> Matcher:
    return Matcher(scenario_needles(IDS))


def found(event: dict) -> set[str]:
    return {leak.found for leak in scan_event(event, matcher())}


def test_a_leak_names_its_field_and_value():
    event = {"container.mounts.sources": ["/var/lib/stowaway/host/r1/docker.escape.nsenter-host-881/escape"],
             "observer.name": "docker-events"}
    leaks = scan_event(event, matcher())
    assert {(leak.field, leak.found) for leak in leaks} == {
        ("container.mounts.sources", "docker.escape.nsenter-host"), ("container.mounts.sources", "escape")}
    assert "/var/lib/stowaway/host/r1/docker.escape.nsenter-host-881/escape" in str(leaks[0])


@pytest.mark.parametrize(("value", "word"), [
    ("echo escaped-via-chroot > /x", "escape"),
    ("python3 payload.py", "payload"),
    ("stw-0c8c70-sinkhole", "sinkhole"),
    ("BeaconInterval=5", "beacon"),  # camel case splits
    ("connect c2 now", "c2"),
    ("/opt/tmp_kworker/run", "tmp_kworker"),  # a module name
    ("labels: role=adversary", "adversary"),
])
def test_intent_is_found(value: str, word: str):
    assert word in found({"process.command_line": value})


@pytest.mark.parametrize("value", [
    "-A STOWAWAY-GUARD -s 198.18.0.0/15 -j DROP",  # iptables' own word
    "-t nat -A POSTROUTING -d 198.19.0.10 -j MASQUERADE",
    "/root/.ssh/authorized_keys",  # the file the technique writes, on every host
    "worker-c2e5a1",  # "c2" inside a random hex name is not a word
    "stw-0c8c70-upstream",
    "/var/lib/stowaway/host/20261130-014820-5fe5df/8f3a9c1e/spool/sysupdate",
    "curl -sf http://198.18.0.20/health",
])
def test_ordinary_values_pass(value: str):
    assert found({"process.command_line": value}) == set()


def test_bookkeeping_and_policy_fields_are_not_judged():
    assert found({"observer.name": "payload", "policy.egress.rule": "c2 sinkhole", "event.id": "beacon-1"}) == set()


def test_field_names_are_judged_too():
    assert "adversary" in found({"container.labels.adversary": "1"})


def _recorded(path: Path) -> list[dict]:
    data = json.loads(path.read_text())
    events = data if isinstance(data, list) else data.get("events", []) if isinstance(data, dict) else []
    return [e for e in events if isinstance(e, dict) and ("event.dataset" in e or "observer.name" in e)]


RECORDINGS = sorted(p for p in FIXTURES.rglob("*.json") if _recorded(p))


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_recorded_telemetry_is_neutral(path: Path):
    scan = TelemetryScan(IDS)
    for event in _recorded(path):
        scan(event)
    words = {leak.found for leak in scan.leaks}
    legacy = RECORDED_BEFORE_NEUTRAL_NAMES.get(str(path.relative_to(FIXTURES)))
    if legacy is None:
        assert not words, "\n".join(str(leak) for leak in scan.leaks)
    else:
        assert words == legacy, "re-recorded? update RECORDED_BEFORE_NEUTRAL_NAMES (it may only shrink)"


# What a scenario module may say in its own words: its metadata, what it logs and asserts, and the
# detector ids it names. Everything else it writes goes into the lab (commands, names, labels, files).
_METADATA = {"id", "title", "description", "twin", "tags", "techniques", "forges", "expect", "simulated_time"}
_SAYS = {"action", "wait_for", "cleanup"}


def _sent_strings(tree: ast.AST) -> list[tuple[int, str]]:
    quiet: set[int] = set()
    for node in ast.walk(tree):
        said = None
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in _METADATA for t in node.targets):
            said = node.value
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") in _SAYS) or isinstance(node, ast.Raise):
            said = node
        elif isinstance(node, ast.keyword) and node.arg == "doc":
            said = node.value  # a Dimension's doc is for `stowaway explain`; its values do reach the lab
        elif isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body \
                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            said = node.body[0]
        if said is not None:
            quiet |= {id(sub) for sub in ast.walk(said)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in quiet
            and not n.value.startswith("stowaway.")]  # detector ids in expectations


SCENARIO_MODULES = sorted(p for p in SCENARIOS.rglob("*.py")
                          if p.name not in ("api.py", "registry.py", "attack.py", "__init__.py"))


@pytest.mark.parametrize("path", SCENARIO_MODULES, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_scenario_modules_send_no_intent_into_the_lab(path: Path):
    check = matcher()
    leaks = [f"{path.name}:{line}: {text[:80]!r} reveals {hit!r}"
             for line, text in _sent_strings(ast.parse(path.read_text())) for hit in check.hits(text)]
    assert not leaks, "\n".join(leaks)
