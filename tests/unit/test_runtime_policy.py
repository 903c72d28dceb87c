"""Policy kinds, sensors' pure parts and analytics of the runtime and orchestrator slice."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.analytics.container_logs import GRACE_S, ContainerLogDeleted
from detectors.analytics.swarm_drift import ServiceSpecDrift
from detectors.event import new_event
from detectors.policies import DEFAULT_POLICY_DIR, PolicyError, load_policy
from detectors.policy_kinds.images import repository_of
from detectors.policy_kinds.log_retention import retained_bytes
from detectors.sensors.engine_config import config_event
from detectors.sensors.swarm_state import changed_aspects, node_event, service_event
from tests.unit.platform_kit import PlatformKit

POLICY = load_policy([DEFAULT_POLICY_DIR])


@pytest.mark.parametrize(("reference", "repository"), [
    ("stowaway/base:abc", "stowaway/base"), ("registry:5000/team/app:1.2@sha256:00", "registry:5000/team/app"),
    ("busybox", "busybox"), ("sha256:deadbeef", "sha256"),
])
def test_repository_of(reference: str, repository: str) -> None:
    assert repository_of(reference) == repository


@pytest.mark.parametrize(("driver", "options", "kept"), [
    ("json-file", {"max-size": "1k", "max-file": "1"}, 1024),
    ("json-file", {"max-size": "256k", "max-file": "4"}, 1024 * 1024),
    ("json-file", {}, None),  # unbounded
    ("local", {}, 100 * 1024 * 1024),
    ("none", {}, None),
])
def test_retained_bytes(driver: str, options: dict[str, str], kept: int | None) -> None:
    assert retained_bytes(driver, options) == kept


def _container(**fields: object) -> dict:
    """A hand-made container start event: the fields the docker-events sensor fills."""
    event = new_event("docker", "docker.events", "start")
    event.update({"event.type": "container", "container.id": "c1", "container.name": "tools-1",
                  "container.privileged": False, "container.cap_add": [], "container.mounts.sources": [],
                  "container.mounts.writable_sources": [], "container.pid_mode": "", "container.network_mode": "",
                  "container.network.names": ["stw-1-lan"], "container.image.name": "stowaway/base:x",
                  "container.image.id": SIGNED_BASE, "container.logging.driver": "json-file",
                  "container.command": ["sleep", "infinity"]})
    event.update({k.replace("__", "."): v for k, v in fields.items()})
    return event


SIGNED_BASE = "sha256:" + "b" * 64
AGENT = "sha256:" + "a" * 64
AGENT_COMMAND = ["sh", "/usr/local/bin/node-agent"]


@pytest.fixture
def platform_policy(tmp_path: Path):
    kit = PlatformKit(tmp_path)
    kit.sign(SIGNED_BASE, "stowaway/base", ["/bin/sh"])
    kit.sign(AGENT, "platform/node-agent", AGENT_COMMAND)
    return kit.policy()


def test_image_approval_by_signature_and_impersonation(platform_policy) -> None:
    approved = platform_policy.enrich(_container())
    assert approved["policy.image.approved"] is True
    retag = platform_policy.enrich(_container(container__image__id="sha256:" + "c" * 64))
    assert (retag["policy.image.repository_protected"], retag["policy.image.approved"]) == (True, False)
    host_built = platform_policy.enrich(_container(container__image__name="batch-tools:1",
                                                   container__image__id="sha256:" + "c" * 64))
    assert (host_built["policy.image.repository_protected"], host_built["policy.image.approved"]) == (False, False)
    labelled = platform_policy.enrich(_container(container__image__name="reports-tools:1",
                                                 container__image__id="sha256:" + "c" * 64,
                                                 **{"container__labels__org.opencontainers.image.source":
                                                    "https://git.internal.example/platform/images/x"}))
    assert labelled["policy.image.approved"] is False  # a label is not provenance
    by_id = platform_policy.enrich(_container(container__image__name=SIGNED_BASE))
    assert by_id["policy.image.approved"] is True  # the signed content under any name


def test_privileged_agent_sanction_binds_to_the_signed_image_run_as_built(platform_policy) -> None:
    agent = dict(container__name="node-agent-1", container__privileged=True, container__pid_mode="host",
                 container__mounts__sources=["/proc", "/sys"], container__image__id=AGENT,
                 container__image__name="platform/node-agent:1", container__command=AGENT_COMMAND)
    assert platform_policy.enrich(_container(**agent))["policy.privilege.sanctioned"] is True
    writable = platform_policy.enrich(_container(**agent, container__mounts__writable_sources=["/proc"]))
    assert writable["policy.privilege.sanctioned"] is False
    root_mount = platform_policy.enrich(_container(**{**agent, "container__mounts__sources": ["/"]}))
    assert root_mount["policy.privilege.sanctioned"] is False
    # The look-alike: the agent's name and reference, an image the pipeline did not sign.
    unsigned = platform_policy.enrich(_container(**{**agent, "container__image__id": "sha256:" + "d" * 64}))
    assert unsigned["policy.privilege.sanctioned"] is False
    # The genuine image with a command of someone's choosing.
    repurposed = platform_policy.enrich(_container(**{**agent, "container__command": ["nsenter", "-t", "1"]}))
    assert repurposed["policy.privilege.sanctioned"] is False
    unknown_command = _container(**agent)
    del unknown_command["container.command"]
    assert platform_policy.enrich(unknown_command)["policy.privilege.sanctioned"] is False


def test_without_the_platforms_trust_nothing_is_sanctioned() -> None:
    # The shipped policy alone (no published signer): fail closed.
    agent = _container(container__name="node-agent-1", container__privileged=True, container__pid_mode="host",
                       container__mounts__sources=["/proc", "/sys"], container__image__id=AGENT,
                       container__command=AGENT_COMMAND)
    assert POLICY.enrich(agent)["policy.privilege.sanctioned"] is False
    assert POLICY.enrich(_container())["policy.image.approved"] is False


def test_a_forged_signature_is_not_provenance(platform_policy, tmp_path: Path) -> None:
    # Another key signs the same image id: it is not the platform's key.
    other = PlatformKit(tmp_path / "other")
    other.sign("sha256:" + "e" * 64, "platform/node-agent", AGENT_COMMAND)
    store = tmp_path / "signatures"
    (store / f"sha256-{'e' * 64}.json").write_text((other.store / f"sha256-{'e' * 64}.json").read_text())
    forged = platform_policy.enrich(_container(container__image__id="sha256:" + "e" * 64, container__privileged=True,
                                               container__command=AGENT_COMMAND))
    assert forged["policy.image.approved"] is False


def test_policy_errors_name_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: privileged_agents\nsanctioned_privileged_agents:\n"
                                       "  - {name: a, owner: o, description: d, match: {networks: [lan]},\n"
                                       "     allow: {root: true}}\n")
    with pytest.raises(PolicyError, match=r"bad.yaml: sanctioned_privileged_agents\[0\]\.allow\.root"):
        load_policy([tmp_path])
    (tmp_path / "bad.yaml").write_text("kind: log_retention\nowner: o\ndescription: d\nminimum_local_log: lots\n")
    with pytest.raises(PolicyError, match="minimum_local_log"):
        load_policy([tmp_path])


def test_engine_config_changes_judged_by_key() -> None:
    tuned = POLICY.enrich(config_event("modified", "/x/daemon.json", {"a": 1}, {"a": 1, "max-concurrent-downloads": 6}))
    assert tuned["policy.engine_config.approved"] is True
    weakened = POLICY.enrich(config_event("modified", "/x/daemon.json", {"a": 1},
                                          {"a": 1, "max-concurrent-downloads": 6, "insecure-registries": ["r:5000"]}))
    assert weakened["policy.engine_config.unapproved_keys"] == ["insecure-registries"]
    broken = POLICY.enrich(config_event("modified", "/x/daemon.json", {"a": 1}, None))
    assert broken["policy.engine_config.approved"] is False


def test_node_label_declared_values() -> None:
    def labelled(labels: dict[str, str], previous: dict[str, str]) -> dict:
        return POLICY.enrich(node_event("update", {"ID": "n1", "Spec": {"Labels": labels}}, previous))

    assert labelled({"zone": "restricted"}, {})["policy.orchestration.placement_change_declared"] is False
    assert labelled({"zone": "general"}, {})["policy.orchestration.placement_change_declared"] is True
    assert labelled({}, {"zone": "restricted"})["policy.orchestration.placement_change_declared"] is True
    assert labelled({}, {"zone": "general"})["policy.orchestration.placement_change_declared"] is False


def _service(policy, action: str, spec: dict, previous: dict | None = None, sid: str = "s1",
             image_id: str = SIGNED_BASE) -> dict:
    inspect = {"ID": sid, "Version": {"Index": 2}, "Spec": spec}
    if previous:
        inspect["PreviousSpec"] = previous
    event = service_event(action, inspect)
    event["container.image.id"] = image_id  # what the sensor resolves the spec's image to
    return policy.enrich(event)


def _spec(name: str = "web-1", image: str = "stowaway/base:a", log: str = "json-file", env: tuple = (),
          mounts: tuple = ()) -> dict:
    return {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": image, "Env": list(env), "Mounts": list(mounts)},
                                           "LogDriver": {"Name": log}}, "Mode": {"Replicated": {"Replicas": 1}}}


def test_service_drift_against_declared_state(platform_policy) -> None:
    drift = ServiceSpecDrift(platform_policy)
    assert drift.observe(_service(platform_policy, "create", _spec())) == []
    rollout = _spec(image="stowaway/base:b", env=("APP_VERSION=1.1",))
    assert drift.observe(_service(platform_policy, "update", rollout, _spec())) == []
    bad = _spec(image="web-sync:1", log="none", mounts=({"Type": "bind", "Source": "/srv", "Target": "/data"},))
    alerts = drift.observe(_service(platform_policy, "update", bad, rollout, image_id="sha256:" + "9" * 64))
    assert [a.object for a in alerts] == ["service:s1"]
    assert set(alerts[0].context["changed"]) == {"image", "logging", "mounts"}


def test_a_rollout_tagged_like_the_base_image_is_not_declared(platform_policy) -> None:
    # The old declaration accepted any stowaway/base:* tag; a host build can carry one.
    drift = ServiceSpecDrift(platform_policy)
    drift.observe(_service(platform_policy, "create", _spec()))
    lookalike = _spec(image="stowaway/base:1.1", env=("APP_VERSION=1.1",))
    alerts = drift.observe(_service(platform_policy, "update", lookalike, _spec(), image_id="sha256:" + "9" * 64))
    assert alerts and "not signed" in " ".join(alerts[0].context["violations"])


def test_changed_aspects_sees_log_options() -> None:
    before = {"container.logging.driver": "json-file", "container.logging.options.max-size": "10m"}
    after = {"container.logging.driver": "json-file", "container.logging.options.max-size": "1k"}
    assert changed_aspects(after, before) == ["logging"]


def test_log_deleted_waits_for_the_container_lifecycle() -> None:
    analytic = ContainerLogDeleted(POLICY)
    deleted = new_event("docker", "docker.container_logs", "deleted", created=100.0, container__id="c1")
    analytic.observe(deleted)
    died = new_event("docker", "docker.events", "die", created=101.0, container__id="c1")
    died["event.type"] = "container"
    analytic.observe(died)
    assert analytic.tick(100.0 + GRACE_S + 1) == []  # removed with its container
    analytic.observe(new_event("docker", "docker.container_logs", "deleted", created=200.0, container__id="c2"))
    assert analytic.tick(200.5) == []
    assert [a.object for a in analytic.tick(200.0 + GRACE_S + 0.1)] == ["container:c2"]


def _started(driver: str, **options: str) -> dict:
    event = new_event("docker", "docker.events", "start")
    event["container.logging.driver"] = driver
    for key, value in options.items():
        event[f"container.logging.options.{key}"] = value
    return event


@pytest.mark.parametrize(("driver", "options", "collected"), [
    ("json-file", {"max-size": "10m"}, True),
    ("journald", {}, True),
    ("syslog", {"syslog-address": "udp://198.19.0.9:514"}, False),  # shipped where the platform does not read
    ("gelf", {"gelf-address": "udp://198.19.0.9:12201"}, False),
    ("fluentd", {"fluentd-address": "tcp://198.19.0.9:24224", "fluentd-async": "true"}, False),
    ("loki", {"loki-url": "http://198.19.0.9/"}, False),  # a plugin driver nobody listed
])
def test_log_collection_by_driver_and_destination(driver: str, options: dict[str, str], collected: bool) -> None:
    event = POLICY.enrich(_started(driver, **options))
    assert event["policy.logging.collected"] is collected


def test_a_collector_the_platform_owns_is_collected_and_nothing_else_at_its_driver(tmp_path: Path) -> None:
    (tmp_path / "collection.yaml").write_text(
        "kind: log_collection\nowner: o\ndescription: d\nlocal_drivers: [json-file]\ncollectors:\n"
        "  - {name: siem, owner: o, description: d, driver: syslog, address: 'tcp://198.18.0.5:6514'}\n")
    policy = load_policy([tmp_path])
    assert policy.enrich(_started("syslog", **{"syslog-address": "tcp://198.18.0.5:6514"}))["policy.logging.collected"]
    elsewhere = policy.enrich(_started("syslog", **{"syslog-address": "udp://198.18.0.5:514"}))
    assert elsewhere["policy.logging.collected"] is False
    assert elsewhere["policy.logging.destination"] == "udp://198.18.0.5:514"
    assert "policy.logging.collected" not in policy.enrich(_started("none"))  # judged on the driver itself


def test_log_collection_errors_name_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: log_collection\nowner: o\ndescription: d\nlocal_drivers: ['json file']\n")
    with pytest.raises(PolicyError) as caught:
        load_policy([tmp_path])
    assert "bad.yaml" in str(caught.value) and "local_drivers[0]" in str(caught.value)
