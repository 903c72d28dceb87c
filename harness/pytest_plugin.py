"""pytest plugin: scenarios as pytest items, with the fixtures ``lab_session``, ``monitor`` and
``run_scenario``.

Registered through the ``pytest11`` entry point, so any project that installs Stowaway can write::

    @pytest.mark.integration
    def test_my_scenario(run_scenario):
        assert run_scenario("docker.logging.log-driver-none").verdict == "detected"

The lab is brought up once per pytest session and torn down at its end, whatever happened.
Live tests are skipped, with the reason, when no engine can be had, unless ``--require-engine``
(or STOWAWAY_REQUIRE_ENGINE=1, which CI sets) turns that skip into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from harness.outcome import Outcome


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stowaway")
    group.addoption("--require-engine", action="store_true", default=False,
                    help="fail, instead of skipping, the live tests when no Docker engine can be had")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a real Docker engine")
    config.addinivalue_line("markers", "scenario(id): the test runs that scenario")


def _require(config: pytest.Config) -> bool:
    return bool(config.getoption("--require-engine")) or os.environ.get("STOWAWAY_REQUIRE_ENGINE") == "1"


@pytest.fixture(scope="session")
def lab_session(request: pytest.FixtureRequest) -> Iterator[object]:
    from lab import EngineUnavailable, LabSession

    session = LabSession()
    try:
        session.up()
    except EngineUnavailable as exc:
        if _require(request.config):
            pytest.fail(f"no Docker engine: {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    try:
        yield session
    finally:
        session.down()


@pytest.fixture(scope="session")
def monitor(lab_session: object) -> Iterator[object]:
    from harness.monitoring import build_monitor

    mon = build_monitor(lab_session.engine, run_id=lab_session.run_id)  # type: ignore[attr-defined]
    mon.start()
    try:
        yield mon
    finally:
        mon.stop()


@pytest.fixture(scope="session")
def registry() -> object:
    from scenarios.registry import load

    return load()


@pytest.fixture
def run_scenario(lab_session: object, monitor: object, registry: object) -> Callable[[str], Outcome]:
    """Run one scenario by id in the session's lab, with the detectors attached; return its Outcome."""
    from harness.runner import execute

    def run(scenario_id: str, backend: str = "docker") -> Outcome:
        cls = registry.get(scenario_id)  # type: ignore[attr-defined]
        return execute(cls, lab_session, monitor, backend, progress=lambda _msg: None)  # type: ignore[arg-type]

    return run
