"""Policy kinds, sensors' pure parts and analytics of the runtime and orchestrator slice."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.analytics.container_logs import GRACE_S, ContainerLogDeleted
from detectors.analytics.swarm_drift import ServiceSpecDrift
from detectors.event import new_event
from detectors.policies import DEFAULT_POLICY_DIR, PolicyError, load_policy
from detectors.runtime_policy import repository_of, retained_bytes
from detectors.sensors.engine_config import config_event
from detectors.sensors.swarm_state import changed_aspects, node_event, service_event

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
    event = new_event("docker", "docker.events", "start")
    event.update({"event.type": "container", "container.id": "c1", "container.name": "tools-1",
                  "container.privileged": False, "container.cap_add": [], "container.mounts.sources": [],
                  "container.mounts.writable_sources": [], "container.pid_mode": "", "container.network_mode": "",
                  "container.network.names": ["stw-1-lan"], "container.image.name": "stowaway/base:x",
                  "container.image.id": "sha256:pinned", "container.logging.driver": "json-file"})
    event.update({k.replace("__", "."): v for k, v in fields.items()})
    return event


def test_image_approval_by_pinned_id_and_impersonation(tmp_path: Path) -> None:
    (tmp_path / "pub.yaml").write_text("kind: images\npinned:\n  - {name: p, owner: o, description: d, "
                                       "repository: stowaway/base, image_ids: ['sha256:pinned']}\n")
    policy = load_policy([DEFAULT_POLICY_DIR, tmp_path])
    approved = policy.enrich(_container())
    assert approved["policy.image.approved"] is True
    retag = policy.enrich(_container(container__image__id="sha256:other"))
    assert (retag["policy.image.repository_approved"], retag["policy.image.approved"]) == (True, False)
    host_built = policy.enrich(_container(container__image__name="batch-tools:1", container__image__id="sha256:x"))
    assert (host_built["policy.image.repository_approved"], host_built["policy.image.approved"]) == (False, False)
    by_id = policy.enrich(_container(container__image__name="sha256:pinned"))
    assert by_id["policy.image.approved"] is True  # a build step runs the published image by id


def test_privileged_agent_sanction_is_bounded() -> None:
    agent = dict(container__name="node-agent-1", container__privileged=True, container__pid_mode="host",
                 container__mounts__sources=["/proc", "/sys"])
    assert POLICY.enrich(_container(**agent))["policy.privilege.sanctioned"] is True
    writable = POLICY.enrich(_container(**agent, container__mounts__writable_sources=["/proc"]))
    assert writable["policy.privilege.sanctioned"] is False
    other_name = POLICY.enrich(_container(**{**agent, "container__name": "tools-1"}))
    assert other_name["policy.privilege.sanctioned"] is False
    root_mount = POLICY.enrich(_container(**{**agent, "container__mounts__sources": ["/"]}))
    assert root_mount["policy.privilege.sanctioned"] is False


def test_policy_errors_name_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: privileged_agents\nsanctioned_privileged_agents:\n"
                                       "  - {name: a, owner: o, description: d, match: {names: [x]},\n"
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


def _service(action: str, spec: dict, previous: dict | None = None, sid: str = "s1") -> dict:
    inspect = {"ID": sid, "Version": {"Index": 2}, "Spec": spec}
    if previous:
        inspect["PreviousSpec"] = previous
    return POLICY.enrich(service_event(action, inspect))


def _spec(name: str = "web-1", image: str = "stowaway/base:a", log: str = "json-file", env: tuple = (),
          mounts: tuple = ()) -> dict:
    return {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": image, "Env": list(env), "Mounts": list(mounts)},
                                           "LogDriver": {"Name": log}}, "Mode": {"Replicated": {"Replicas": 1}}}


def test_service_drift_against_declared_state() -> None:
    drift = ServiceSpecDrift(POLICY)
    assert drift.observe(_service("create", _spec())) == []
    rollout = _spec(image="stowaway/base:b", env=("APP_VERSION=1.1",))
    assert drift.observe(_service("update", rollout, _spec())) == []
    bad = _spec(image="web-sync:1", log="none", mounts=({"Type": "bind", "Source": "/srv", "Target": "/data"},))
    alerts = drift.observe(_service("update", bad, rollout))
    assert [a.object for a in alerts] == ["service:s1"]
    assert set(alerts[0].context["changed"]) == {"image", "logging", "mounts"}


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
