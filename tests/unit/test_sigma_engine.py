"""The local Sigma engine: matching semantics, the logsource index, and RuleSet loading."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from detectors.event import new_event
from detectors.sigma import CompiledRule, RuleSet, SigmaRuleError, load_rule

DOCKER = {"product": "docker", "service": "events"}


def write_rule(
    directory: Path,
    detection: dict[str, Any],
    *,
    name: str = "test.rule",
    logsource: dict[str, Any] | None = None,
    filename: str | None = None,
    **extra: Any,
) -> Path:
    document = {
        "title": f"Rule {name}",
        "name": name,
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "status": "test",
        "level": "high",
        "logsource": DOCKER if logsource is None else logsource,
        "detection": detection,
        **extra,
    }
    path = directory / (filename or f"{name}.yml")
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def rule_for(tmp_path: Path, selection: dict[str, Any], condition: str = "selection", **kwargs: Any) -> CompiledRule:
    return load_rule(write_rule(tmp_path, {"selection": selection, "condition": condition}), **kwargs)


def docker_event(**fields: Any) -> dict[str, Any]:
    return new_event("docker", "docker.events", fields.pop("action", "start"), **fields)


# --- value semantics, one modifier at a time --------------------------------------------------------

MODIFIER_CASES = [
    # (selection, event fields, expected)
    ({"container.logging.driver": "none"}, {"container__logging__driver": "none"}, True),
    ({"container.logging.driver": "none"}, {"container__logging__driver": "NONE"}, True),
    ({"container.logging.driver": "none"}, {"container__logging__driver": "json-file"}, False),
    ({"container.logging.driver": "none"}, {}, False),
    ({"container.image.name": "debian:*"}, {"container__image__name": "Debian:bookworm"}, True),
    ({"container.image.name": "debian:*"}, {"container__image__name": "xdebian:bookworm"}, False),
    ({"container.image.name": "*miner*"}, {"container__image__name": "lab/XMiner:1"}, True),
    ({"container.image.name": "web-?"}, {"container__image__name": "web-1"}, True),
    ({"container.image.name": "web-?"}, {"container__image__name": "web-12"}, False),
    ({"container.image.name": "a*b?c"}, {"container__image__name": "aXXbYc"}, True),
    ({"container.image.name": "a*b?c"}, {"container__image__name": "aXXbc"}, False),
    ({"container.image.name": r"star\*"}, {"container__image__name": "star*"}, True),
    ({"container.image.name": r"star\*"}, {"container__image__name": "starry"}, False),
    ({"container.image.name": r"q\?"}, {"container__image__name": "qx"}, False),
    ({"file.path": r"C:\Windows\\*"}, {"file__path": "c:\\windows\\system32"}, True),  # \\ then a wildcard
    ({"file.path": r"C:\Windows\*"}, {"file__path": "c:\\windows\\system32"}, False),  # \* is a literal star
    ({"file.path": r"C:\Windows\*"}, {"file__path": "C:\\Windows*"}, True),
    ({"container.image.name|cased": "Web"}, {"container__image__name": "Web"}, True),
    ({"container.image.name|cased": "Web"}, {"container__image__name": "web"}, False),
    ({"container.image.name|contains": "mine"}, {"container__image__name": "lab/xMINEr"}, True),
    ({"container.image.name|contains": "mine"}, {"container__image__name": "lab/web"}, False),
    ({"container.image.name|contains|cased": "Mine"}, {"container__image__name": "xmine"}, False),
    ({"container.image.name|startswith": "registry.lab/"}, {"container__image__name": "Registry.Lab/x"}, True),
    ({"container.image.name|startswith": "registry.lab/"}, {"container__image__name": "evil/registry.lab/"}, False),
    ({"container.image.name|endswith": ":latest"}, {"container__image__name": "x:LATEST"}, True),
    ({"container.image.name|endswith": ":latest"}, {"container__image__name": "x:latest-1"}, False),
    ({"container.image.name|endswith": ["a", "b"]}, {"container__image__name": "xb"}, True),
    ({"process.command_line|contains|all": ["nsenter", "-t 1"]}, {"process__command_line": "nsenter -t 1 sh"}, True),
    ({"process.command_line|contains|all": ["nsenter", "-t 1"]}, {"process__command_line": "nsenter -t 2"}, False),
    ({"process.command_line|re": r"nsenter\s+-t\s+1\b"}, {"process__command_line": "x nsenter  -t 1 y"}, True),
    ({"process.command_line|re": "NSENTER"}, {"process__command_line": "nsenter"}, False),
    ({"process.command_line|re|i": "NSENTER"}, {"process__command_line": "nsenter"}, True),
    ({"process.command_line|re": "^a.c$"}, {"process__command_line": "a\nc"}, False),
    ({"process.command_line|re|s": "^a.c$"}, {"process__command_line": "a\nc"}, True),
    ({"destination.ip|cidr": "198.18.0.0/15"}, {"destination__ip": "198.19.255.1"}, True),
    ({"destination.ip|cidr": "198.18.0.0/15"}, {"destination__ip": "198.20.0.1"}, False),
    ({"destination.ip|cidr": "198.18.0.0/15"}, {"destination__ip": "not-an-ip"}, False),
    ({"destination.ip|cidr": ["10.0.0.0/8", "fd00::/8"]}, {"destination__ip": "fd12::1"}, True),
    ({"destination.ip|cidr": "fd00::/8"}, {"destination__ip": "10.0.0.1"}, False),
    ({"container.labels|exists": True}, {"container__labels": "x"}, True),
    ({"container.labels|exists": True}, {}, False),
    ({"container.labels|exists": False}, {}, True),
    ({"container.labels|exists": False}, {"container__labels": ""}, False),
    ({"container.cpu.pct|gt": 90}, {"container__cpu__pct": 90.5}, True),
    ({"container.cpu.pct|gt": 90}, {"container__cpu__pct": 90}, False),
    ({"container.cpu.pct|gte": 90}, {"container__cpu__pct": 90}, True),
    ({"container.cpu.pct|lt": 10}, {"container__cpu__pct": 9.9}, True),
    ({"container.cpu.pct|lt": 10}, {"container__cpu__pct": 10}, False),
    ({"container.cpu.pct|lte": 10}, {"container__cpu__pct": 10}, True),
    ({"container.cpu.pct|gt": 90}, {"container__cpu__pct": "95"}, False),  # comparisons need numbers
    ({"container.cpu.pct|gt": 0}, {"container__cpu__pct": True}, False),  # a bool is not a number
    ({"source.ip|fieldref": "destination.ip"}, {"source__ip": "10.0.0.1", "destination__ip": "10.0.0.1"}, True),
    ({"source.ip|fieldref": "destination.ip"}, {"source__ip": "10.0.0.1", "destination__ip": "10.0.0.2"}, False),
    ({"source.ip|fieldref": "destination.ip"}, {}, False),  # two missing fields are not equal
    ({"a.flag|fieldref": "b.count"}, {"a__flag": True, "b__count": 1}, False),
]


@pytest.mark.parametrize(("selection", "fields", "expected"), MODIFIER_CASES)
def test_value_semantics(tmp_path: Path, selection: dict[str, Any], fields: dict[str, Any], expected: bool) -> None:
    rule = rule_for(tmp_path, selection)
    event = docker_event(**fields)
    assert rule.matches(event) is expected
    assert (RuleSet([rule]).match(event) == [rule]) is expected


def test_null_matches_missing_or_none_but_not_empty(tmp_path: Path) -> None:
    rule = rule_for(tmp_path, {"container.labels": None})
    assert rule.matches(docker_event())
    assert rule.matches(docker_event(container__labels=None))
    assert not rule.matches(docker_event(container__labels=""))
    assert not rule.matches(docker_event(container__labels="x"))


def test_null_among_alternatives(tmp_path: Path) -> None:
    rule = rule_for(tmp_path, {"container.user": [None, "root"]})
    assert rule.matches(docker_event())
    assert rule.matches(docker_event(container__user="ROOT"))
    assert not rule.matches(docker_event(container__user="app"))


def test_numbers_and_booleans_compare_by_equality(tmp_path: Path) -> None:
    privileged = rule_for(tmp_path, {"container.privileged": True})
    assert privileged.matches(docker_event(container__privileged=True))
    assert not privileged.matches(docker_event(container__privileged=False))
    assert not privileged.matches(docker_event(container__privileged="true"))
    assert not privileged.matches(docker_event(container__privileged=1))
    as_text = rule_for(tmp_path, {"container.privileged": "true"})
    assert not as_text.matches(docker_event(container__privileged=True))
    port = rule_for(tmp_path, {"destination.port": 4444})
    assert port.matches(docker_event(destination__port=4444))
    assert port.matches(docker_event(destination__port=4444.0))
    assert port.matches(docker_event(destination__port="4444"))
    assert not port.matches(docker_event(destination__port=4445))
    assert not port.matches(docker_event(destination__port=True))
    quoted = rule_for(tmp_path, {"destination.port": "44*"})
    assert quoted.matches(docker_event(destination__port=4444))


def test_expand_resolves_placeholders_at_load(tmp_path: Path) -> None:
    path = write_rule(
        tmp_path,
        {"selection": {"container.image.name|expand|startswith": "%registries%/"}, "condition": "selection"},
    )
    rule = load_rule(path, {"registries": ["registry.lab", "mirror.lab"]})
    assert rule.matches(docker_event(container__image__name="mirror.lab/web:1"))
    assert rule.matches(docker_event(container__image__name="REGISTRY.lab/web:1"))
    assert not rule.matches(docker_event(container__image__name="evil.example/web:1"))
    ruleset = RuleSet.load(tmp_path, placeholders={"registries": "only.lab"})
    assert ruleset.match(docker_event(container__image__name="only.lab/x"))
    assert not ruleset.match(docker_event(container__image__name="mirror.lab/x"))


# --- list fields ---------------------------------------------------------------------------------


def test_list_field_matches_if_any_element_matches(tmp_path: Path) -> None:
    rule = rule_for(tmp_path, {"container.network.names|endswith": "-lan"})
    assert rule.matches(docker_event(container__network__names=["bridge", "stw-x-LAN"]))
    assert not rule.matches(docker_event(container__network__names=["bridge", "host"]))
    assert not rule.matches(docker_event(container__network__names=[]))


def test_list_field_with_all_needs_every_value_somewhere(tmp_path: Path) -> None:
    rule = rule_for(tmp_path, {"container.capabilities|all": ["SYS_ADMIN", "NET_ADMIN"]})
    assert rule.matches(docker_event(container__capabilities=["net_admin", "CHOWN", "sys_admin"]))
    assert not rule.matches(docker_event(container__capabilities=["SYS_ADMIN", "CHOWN"]))


def test_list_field_with_numbers_and_cidr(tmp_path: Path) -> None:
    ports = rule_for(tmp_path, {"destination.port": [4444, 1337]})
    assert ports.matches(docker_event(destination__port=[80, 1337]))
    assert not ports.matches(docker_event(destination__port=[80, 443]))
    nets = rule_for(tmp_path, {"host.ip|cidr": "198.18.0.0/15"})
    assert nets.matches(docker_event(host__ip=["172.17.0.1", "198.18.0.7"]))


def test_list_of_values_is_or_and_map_is_and(tmp_path: Path) -> None:
    rule = rule_for(tmp_path, {"event.action": ["start", "create"], "container.logging.driver": "none"})
    assert rule.matches(docker_event(action="create", container__logging__driver="none"))
    assert not rule.matches(docker_event(action="create", container__logging__driver="json-file"))
    assert not rule.matches(docker_event(action="die", container__logging__driver="none"))


def test_list_of_maps_is_or(tmp_path: Path) -> None:
    detection = {
        "selection": [{"container.privileged": True}, {"container.pid_mode": "host"}],
        "condition": "selection",
    }
    rule = load_rule(write_rule(tmp_path, detection))
    assert rule.matches(docker_event(container__privileged=True))
    assert rule.matches(docker_event(container__pid_mode="HOST"))
    assert not rule.matches(docker_event(container__privileged=False, container__pid_mode="private"))


# --- conditions ----------------------------------------------------------------------------------

CONDITION_DETECTION: dict[str, Any] = {
    "sel_priv": {"container.privileged": True},
    "sel_sock": {"container.mounts.source|endswith": "/docker.sock"},
    "filter_agent": {"container.image.name|startswith": "registry.lab/agents/"},
    "_helper": {"container.name": "helper"},
}


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        ("sel_priv and sel_sock", {"container__privileged": True, "container__mounts__source": "/docker.sock"}, True),
        ("sel_priv and sel_sock", {"container__privileged": True}, False),
        ("sel_priv or sel_sock", {"container__mounts__source": "/run/docker.sock"}, True),
        ("sel_priv or sel_sock", {}, False),
        ("sel_priv and not filter_agent", {"container__privileged": True}, True),
        (
            "sel_priv and not filter_agent",
            {"container__privileged": True, "container__image__name": "registry.lab/agents/x"},
            False,
        ),
        ("not sel_priv", {}, True),
        ("not not sel_priv", {}, False),
        ("(sel_priv or sel_sock) and not filter_agent", {"container__mounts__source": "/docker.sock"}, True),
        ("sel_priv or sel_sock and filter_agent", {"container__privileged": True}, True),  # and binds tighter
        ("(sel_priv or sel_sock) and filter_agent", {"container__privileged": True}, False),
        ("1 of sel_*", {"container__mounts__source": "/docker.sock"}, True),
        ("all of sel_*", {"container__mounts__source": "/docker.sock"}, False),
        ("all of sel_*", {"container__privileged": True, "container__mounts__source": "/docker.sock"}, True),
        ("any of sel_*", {"container__privileged": True}, True),
        ("1 of them", {"container__image__name": "registry.lab/agents/a"}, True),
        ("1 of them", {"container__name": "helper"}, False),  # them skips _-prefixed helpers
        ("all of them", {"container__privileged": True, "container__mounts__source": "/docker.sock"}, False),
        (
            "all of them",
            {
                "container__privileged": True,
                "container__mounts__source": "/docker.sock",
                "container__image__name": "registry.lab/agents/a",
            },
            True,
        ),
        ("1 of sel_* and not 1 of filter*", {"container__privileged": True}, True),
        ("_helper", {"container__name": "helper"}, True),
    ],
)
def test_condition_forms(tmp_path: Path, condition: str, fields: dict[str, Any], expected: bool) -> None:
    rule = load_rule(write_rule(tmp_path, {**CONDITION_DETECTION, "condition": condition}))
    assert rule.matches(docker_event(**fields)) is expected


def test_condition_list_is_or(tmp_path: Path) -> None:
    rule = load_rule(write_rule(tmp_path, {**CONDITION_DETECTION, "condition": ["sel_priv", "sel_sock"]}))
    assert rule.matches(docker_event(container__mounts__source="/docker.sock"))
    assert not rule.matches(docker_event())


# --- logsource and the index ---------------------------------------------------------------------


def test_logsource_maps_to_module_dataset_and_category(tmp_path: Path) -> None:
    rule = load_rule(
        write_rule(
            tmp_path,
            {"selection": {"process.name": "nsenter"}, "condition": "selection"},
            logsource={"product": "tracefs", "service": "process", "category": "process"},
        )
    )
    exec_event = new_event("tracefs", "tracefs.process", "exec", process__name="nsenter", event__category=["process"])
    assert rule.matches(exec_event)
    assert RuleSet([rule]).match(exec_event) == [rule]
    assert not rule.matches({**exec_event, "event.category": ["network"]})
    assert not rule.matches({**exec_event, "event.category": None})
    assert rule.matches({**exec_event, "event.category": "process"})
    assert not rule.matches({**exec_event, "event.dataset": "tracefs.network"})
    assert not rule.matches({**exec_event, "event.module": "docker"})


def test_an_event_from_another_dataset_never_meets_a_rule(tmp_path: Path) -> None:
    write_rule(tmp_path, {"selection": {"container.id|exists": True}, "condition": "selection"}, name="a.docker")
    write_rule(
        tmp_path,
        {"selection": {"container.id|exists": True}, "condition": "selection"},
        name="b.product-only",
        logsource={"product": "docker"},
    )
    write_rule(
        tmp_path,
        {"selection": {"container.id|exists": True}, "condition": "selection"},
        name="c.category-only",
        logsource={"category": "process"},
    )
    ruleset = RuleSet.load(tmp_path)
    docker = new_event("docker", "docker.events", "start", container__id="ab12")
    swarm = new_event("docker", "docker.swarm", "update", container__id="ab12")
    tracefs = new_event("tracefs", "tracefs.process", "exec", container__id="ab12", event__category="process")
    k8s = new_event("kubernetes", "kubernetes.audit", "create", container__id="ab12")
    assert [rule.rule_id for rule in ruleset.match(docker)] == ["a.docker", "b.product-only"]
    assert [rule.rule_id for rule in ruleset.match(swarm)] == ["b.product-only"]
    assert [rule.rule_id for rule in ruleset.match(tracefs)] == ["c.category-only"]
    assert ruleset.match(k8s) == []
    assert ruleset.match({"container.id": "ab12"}) == []
    assert ruleset.match({"event.module": ["docker"], "container.id": "ab12"}) == []


def test_action_index_routes_without_losing_matches(tmp_path: Path) -> None:
    write_rule(
        tmp_path, {"s": {"event.action": "start", "container.pid_mode": "host"}, "condition": "s"}, name="r.start"
    )
    write_rule(tmp_path, {"s": {"event.action": ["create", "start"]}, "condition": "s"}, name="r.create-or-start")
    write_rule(tmp_path, {"s": {"event.action|cased": "Start"}, "condition": "s"}, name="r.cased")
    write_rule(tmp_path, {"s": {"container.pid_mode": "host"}, "condition": "s"}, name="r.any-action")
    write_rule(
        tmp_path,
        {"s": {"event.action": "start"}, "f": {"container.name": "ok"}, "condition": "s and not f"},
        name="r.filtered",
    )
    ruleset = RuleSet.load(tmp_path)

    def names(event: dict[str, Any]) -> list[str]:
        return sorted(rule.rule_id for rule in ruleset.match(event))

    assert names(docker_event(action="START", container__pid_mode="host")) == [
        "r.any-action",
        "r.create-or-start",
        "r.filtered",
        "r.start",
    ]
    assert names(docker_event(action="Start")) == ["r.cased", "r.create-or-start", "r.filtered"]
    assert names(docker_event(action="start", container__name="ok")) == ["r.create-or-start"]
    assert names(docker_event(action="create")) == ["r.create-or-start"]
    assert names(docker_event(action="die", container__pid_mode="host")) == ["r.any-action"]
    no_action = docker_event(container__pid_mode="host")
    del no_action["event.action"]
    assert names(no_action) == ["r.any-action"]
    # A list where the index expects a string must still meet every rule that could match it.
    assert names(docker_event(action=["die", "start"], container__pid_mode="host")) == [
        "r.any-action",
        "r.create-or-start",
        "r.filtered",
        "r.start",
    ]
    for rule in ruleset:  # the index agrees with each rule's own verdict
        event = docker_event(action="Start", container__pid_mode="host")
        assert (rule in ruleset.match(event)) is rule.matches(event)


def test_ruleset_agrees_with_rules_on_random_events(tmp_path: Path) -> None:
    write_rule(tmp_path, {"s": {"event.action": "start", "container.user": "root"}, "condition": "s"}, name="r.1")
    write_rule(tmp_path, {"s": {"event.action": ["start", "die"]}, "condition": "not s"}, name="r.2")
    write_rule(tmp_path, {"s": {"container.user|cased": "Root", "event.action": "die"}, "condition": "s"}, name="r.3")
    write_rule(tmp_path, {"s": [{"event.action": "start"}, {"event.action": "kill"}], "condition": "s"}, name="r.4")
    ruleset = RuleSet.load(tmp_path)
    for action in ("start", "START", "die", "kill", "stop", None, 7, ["start"]):
        for user in ("root", "Root", None, ["x", "root"]):
            event = docker_event(action=action, container__user=user)
            expected = [rule for rule in ruleset if rule.matches(event)]
            assert ruleset.match(event) == expected, (action, user)


# --- metadata and loading --------------------------------------------------------------------------


def test_metadata_is_carried(tmp_path: Path) -> None:
    path = write_rule(
        tmp_path,
        {"selection": {"container.logging.driver": "none"}, "condition": "selection"},
        name="stowaway.docker.log-driver-none",
        description="A container started with logging off.",
        tags=["attack.defense-evasion", "attack.t1562.001", "attack.T1610", "attack.g0139", "cve.2024-1"],
        falsepositives=["sanctioned dev containers"],
        fields=["container.id", "container.image.name"],
        response="Inspect the container and its image.",
        custom_attribute={"anything": "goes"},
    )
    rule = load_rule(path)
    assert rule.rule_id == "stowaway.docker.log-driver-none"
    assert uuid.UUID(rule.uuid) == uuid.uuid5(uuid.NAMESPACE_URL, "stowaway.docker.log-driver-none")
    assert rule.title == "Rule stowaway.docker.log-driver-none"
    assert rule.level == "high"
    assert rule.status == "test"
    assert rule.description == "A container started with logging off."
    assert rule.techniques == ("T1562.001", "T1610")
    assert rule.tactics == ("defense-evasion",)
    assert rule.falsepositives == ("sanctioned dev containers",)
    assert rule.fields == ("container.id", "container.image.name")
    assert rule.response == "Inspect the container and its image."
    assert rule.path == str(path)
    assert (rule.logsource.product, rule.logsource.service, rule.logsource.dataset) == (
        "docker",
        "events",
        "docker.events",
    )


def test_optional_metadata_defaults(tmp_path: Path) -> None:
    path = tmp_path / "minimal.yml"
    path.write_text(
        "title: Minimal\nname: t.minimal\nid: 9d8f3a5e-1c2b-4e7f-8a90-b1c2d3e4f5a6\n"
        "logsource: {product: docker}\ndetection: {s: {event.action: start}, condition: s}\n"
    )
    rule = load_rule(path)
    assert (rule.level, rule.status, rule.description, rule.response) == ("informational", None, "", "")
    assert rule.techniques == rule.tactics == rule.falsepositives == ()


def test_ruleset_loads_directories_recursively_and_lists(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    first = write_rule(tmp_path, {"s": {"event.action": "start"}, "condition": "s"}, name="r.one")
    write_rule(tmp_path / "sub", {"s": {"event.action": "die"}, "condition": "s"}, name="r.two", filename="two.yaml")
    (tmp_path / "notes.txt").write_text("not a rule")
    assert sorted(rule.rule_id for rule in RuleSet.load(tmp_path)) == ["r.one", "r.two"]
    single = RuleSet.load([first])
    assert len(single) == 1 and "r.one" in single and single.get("r.one") is not None
    assert single.get("r.two") is None


def test_empty_ruleset_matches_nothing(tmp_path: Path) -> None:
    assert RuleSet.load(tmp_path).match(docker_event()) == []


@pytest.mark.parametrize("field", ["name", "id"])
def test_duplicates_are_refused_naming_both_files(tmp_path: Path, field: str) -> None:
    detection = {"s": {"event.action": "start"}, "condition": "s"}
    first = write_rule(tmp_path, detection, name="dup.rule", filename="a.yml")
    second = write_rule(tmp_path, detection, name="dup.rule", filename="b.yml")
    if field == "id":  # same id, different name
        document = yaml.safe_load(second.read_text())
        document["name"] = "other.rule"
        second.write_text(yaml.safe_dump(document))
    with pytest.raises(SigmaRuleError) as caught:
        RuleSet.load(tmp_path)
    assert caught.value.field == field
    assert str(first) in str(caught.value) and str(second) in str(caught.value)
