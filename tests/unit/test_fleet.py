"""The benign fleet's pure parts: the service registry, what each service deploys (against a lab
that only records), and the parsers its checks use, fed with output the real services wrote."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.fleet import checks, usage
from harness.fleet.context import Fleet
from harness.fleet.images import ASSETS
from harness.fleet.registry import CheckFailed, Registry, RegistryError, Service
from harness.fleet.services import SERVICES
from lab import Endpoint, Workload, WorkloadSpec

FORBIDDEN = re.compile(r"benign|fleet|soak|test", re.IGNORECASE)


def _noop(*_args: object) -> list[str]:
    return []


def _service(name: str, *needs: str) -> Service:
    return Service(name, f"{name} does its job", start=_noop, check=_noop, needs=needs)  # type: ignore[arg-type]


# --- registry ---------------------------------------------------------------------------------------


def test_registry_refuses_a_duplicate_name():
    registry = Registry([_service("db")])
    with pytest.raises(RegistryError, match="two services are called 'db'"):
        registry.add(_service("db"))


def test_ordered_puts_every_service_after_what_it_needs():
    registry = Registry([_service("web", "api"), _service("api", "db", "cache"), _service("db"), _service("cache")])
    order = [s.name for s in registry.ordered()]
    assert order.index("db") < order.index("api") < order.index("web")
    assert order.index("cache") < order.index("api")
    assert sorted(order) == ["api", "cache", "db", "web"]


def test_ordered_refuses_an_unknown_need_and_a_cycle():
    with pytest.raises(RegistryError, match="needs queue"):
        Registry([_service("worker", "queue")]).ordered()
    with pytest.raises(RegistryError, match="cycle: a -> b -> a"):
        Registry([_service("a", "b"), _service("b", "a")]).ordered()


def test_select_brings_what_the_chosen_services_need():
    registry = Registry([_service("db"), _service("api", "db"), _service("web", "api"), _service("ci")])
    assert [s.name for s in registry.select(["web"]).ordered()] == ["db", "api", "web"]
    with pytest.raises(KeyError, match="no service 'nope'"):
        registry.select(["nope"])


def test_the_fleet_has_at_least_twelve_services_in_a_startable_order():
    ordered = SERVICES.ordered()
    assert len(ordered) >= 12
    assert len({s.name for s in ordered}) == len(ordered)
    assert all(s.does and s.check and s.start for s in ordered)
    assert {"swarm", "ci"} <= {t for s in ordered for t in s.tags}


# --- what the services deploy, against a lab that only records ----------------------------------------


@dataclass
class RecordingLab:
    """Just enough of ``Lab`` for the services' start functions; nothing reaches an engine."""

    deployed: list[tuple[WorkloadSpec, str | None]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    sinkhole: Endpoint = field(default_factory=lambda: Endpoint(address="198.19.0.10", ports=(80,)))
    deb: Path = Path("/none/make_4.3-4.1_amd64.deb")

    def host_deb(self, package: str) -> Path:
        return self.deb

    def name(self, role: str) -> str:
        return f"{role}-a1b2c3"

    def platform_base(self, recipe) -> str:
        self.images.append(recipe.tag)
        return recipe.tag

    def platform_image(self, recipe) -> str:
        self.images.append(recipe.repository)
        return f"{recipe.repository}:{recipe.digest('base')}"

    def create_volume(self, name: str) -> str:
        self.volumes.append(name)
        return name

    def deploy(self, spec: WorkloadSpec, backend: str | None = None) -> Workload:
        self.deployed.append((spec, backend))
        kind = "service" if backend == "swarm" else "container"
        n = len(self.deployed)
        return Workload(id=f"id-{n}", name=self.name(spec.role), kind=kind, backend=backend or "docker",
                        addresses={"lan": "198.18.0.9", "inet": "198.19.0.9"}, container_ids=[f"c{n}"])


@pytest.fixture()
def started(monkeypatch, tmp_path) -> RecordingLab:
    deb = tmp_path / "make_4.3-4.1_amd64.deb"
    deb.write_bytes(b"!<arch>\n")
    lab = RecordingLab(deb=deb)
    fleet = Fleet(lab, minutes=1)  # type: ignore[arg-type]
    for service in SERVICES.ordered():
        fleet.running[service.name] = service.start(fleet)
    return lab


def test_every_service_runs_an_image_the_pipeline_signed_as_built(started: RecordingLab):
    for spec, _backend in started.deployed:
        if spec.role == "vault":  # the offsite vault is the storage provider's receiver, on the lab base
            assert spec.image is None
            continue
        assert spec.image and spec.image.startswith("platform/"), spec.role
        assert spec.command == (), f"{spec.role} must run its image's own command"
    assert "platform/service-base:" in started.images[0]
    assert {"platform/egress-proxy", "platform/vault-backup", "platform/ci-runner"} <= set(started.images)


def test_two_services_run_on_swarm_and_the_ci_runner_has_two_cores(started: RecordingLab):
    swarm = [spec.role for spec, backend in started.deployed if backend == "swarm"]
    assert swarm == ["inventory", "stock-poller"]
    runner = next(spec for spec, _ in started.deployed if spec.role == "ci-runner")
    assert runner.resources.cpus == 2


def test_names_labels_env_and_paths_are_neutral(started: RecordingLab):
    said = []
    for spec, _ in started.deployed:
        said += [spec.role, *spec.labels, *spec.labels.values(), *spec.env, *spec.extra_hosts]
        said += [m.target for m in spec.mounts]
    said += started.volumes + started.images + SERVICES.names()
    said += [str(p.relative_to(ASSETS)) for p in ASSETS.rglob("*")]
    assert [s for s in said if FORBIDDEN.search(s)] == []


# --- parsers, on what the real services wrote ---------------------------------------------------------


def test_health_reads_the_engines_verdict_and_the_kept_probes():
    inspect = {"State": {"Running": True, "Health": {"Status": "healthy", "FailingStreak": 0, "Log": [
        {"ExitCode": 0}, {"ExitCode": 0}, {"ExitCode": 1}, {"ExitCode": 0}]}}}
    health = checks.health(inspect)
    assert (health.state, health.probes_passed, health.probes_failed, health.ready) == ("healthy", 3, 1, True)
    assert checks.health({"State": {"Running": True, "Health": {"Status": "starting"}}}).ready is False
    assert checks.health({"State": {"Running": True}}) == checks.Health(state="running")
    assert checks.health({"State": {"Running": False, "Health": {"Status": "healthy"}}}).state == "exited"


def test_nginx_through_counts_by_the_upstreams_status():
    log = (
        '198.18.0.7 [2026-11-30T02:35:10+00:00] "GET /products/12 HTTP/1.1" 200 118 upstream=198.18.0.5:8000 '
        'upstream_status=200 rt=0.014 "shoppers/1.0"\n'
        '198.18.0.7 [2026-11-30T02:35:11+00:00] "POST /orders HTTP/1.1" 201 35 upstream=198.18.0.5:8000 '
        'upstream_status=201 rt=0.021 "shoppers/1.0"\n'
        '127.0.0.1 [2026-11-30T02:35:12+00:00] "GET /healthz HTTP/1.1" 502 157 upstream=198.18.0.5:8000 '
        'upstream_status=502 rt=0.001 "curl/7.88.1"\n'
        'garbage\n')
    assert checks.nginx_through(log) == {"200": 1, "201": 1, "502": 1}


def test_redis_info_and_first_int():
    info = checks.redis_info("# Stats\r\ntotal_commands_processed:776\r\nkeyspace_hits:149\r\n\r\n# Keyspace\r\n"
                             "db0:keys=162,expires=160,avg_ttl=61234\r\n")
    assert info["total_commands_processed"] == "776" and info["db0"].startswith("keys=162")
    assert checks.first_int(" 990\n") == 990
    with pytest.raises(CheckFailed, match="no number"):
        checks.first_int("ERROR: relation does not exist")


def test_pipelines_keep_each_pipelines_last_state():
    history = ("2026-11-30T02:36:10Z pipeline 1 started\n2026-11-30T02:36:42Z pipeline 1 passed in 32s\n"
               "2026-11-30T02:46:10Z pipeline 2 started\n")
    assert checks.pipelines(history) == [checks.Pipeline(1, "passed", 32), checks.Pipeline(2, "running", None)]
    assert checks.pipelines("x pipeline 3 failed (2) in 7s") == [checks.Pipeline(3, "failed (2)", 7)]


def test_logrotate_state_and_poll_rounds():
    state = ('logrotate state -- version 2\n"/var/log/reports/rollup.log" 2026-11-30-2:0:0\n'
             '"/var/log/storefront/access.log" 2026-11-30-2:34:1\n')
    assert checks.logrotate_state(state) == {"/var/log/reports/rollup.log": "2026-11-30-2:0:0",
                                             "/var/log/storefront/access.log": "2026-11-30-2:34:1"}
    polls = ("2026-11-30T02:30:52 round=21 ok=5 failed=0 ms=11\n2026-11-30T02:30:55 round=22 ok=4 failed=1 ms=3065\n")
    assert checks.poll_rounds(polls) == (2, 9, 1)


def test_status_counts_and_expectations():
    lines = "1764469000 GET /products/3 200 0.012\n1764469001 POST /orders 201 0.020\n1764469002 GET /x 502 0.1\n"
    assert checks.status_counts(lines, field=3) == {"200": 1, "201": 1, "502": 1}
    assert checks.expect_at_least("orders", 12, 10) == "orders: 12"
    assert checks.expect_at_least("bytes", 16_000_000, 16_000_000) == "bytes: 16000000"
    with pytest.raises(CheckFailed, match=r"orders: 3, expected at least 10\.5"):
        checks.expect_at_least("orders", 3, 10.5)
    assert checks.nominal(2.0, 60) == 60 and checks.nominal(0.01, 10) == 1.0


def test_usage_parses_cgroup_v2_cpu_and_describes_a_window():
    assert usage.parse_cpu_stat("usage_usec 2500000\nuser_usec 2000000\n") == 2.5
    assert usage.parse_cpu_stat("nothing here") is None
    line = usage.describe(usage.Sample(1.0, 0), usage.Sample(4.6, 400 * 2**20), 180)
    assert line == "resources: 3.6 CPU-s over 180 s (2.0% of a core), 400 MiB in use at the end"
    assert "not measured" in usage.describe(None, usage.Sample(1.0, 1), 10)
