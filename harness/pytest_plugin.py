"""pytest plugin: scenarios as pytest items, with lab fixtures, markers and host-state checks.

Registered through the ``pytest11`` entry point, so any project that installs Stowaway can write::

    @pytest.mark.integration
    def test_my_scenario(run_scenario):
        assert run_scenario("docker.logging.log-driver-none").verdict == "detected"

    @pytest.mark.scenario("docker.logging.dev-minimal-logging")
    def test_twin_is_quiet(scenario_outcome, lab_leftovers):
        assert scenario_outcome.verdict == "silent"
        assert lab_leftovers(scenario_outcome.objects, scope=scenario_outcome.scenario_id) == {}

Options
    ``--stowaway-scenarios[=SELECTORS]``  add one test item per registered scenario (all of them,
        or those matching comma-separated ids, tags or ATT&CK ids). Each item detonates its
        scenario, asserts its expectation (adversary detected within its deadline, benign twin
        silent), then asserts with testinfra that none of its containers or host directories is
        left. An adversary whose objects drew an alert from a rule outside its ``fires`` and
        ``may_fire`` fails too. Items carry the ``integration`` and ``scenario(id)`` markers, so
        ``-k`` and ``-m`` work.
    ``--stowaway-rules DIR`` / ``--stowaway-policy DIR``  the monitor's rules and policy instead of
        the shipped ones (repeatable), to test your own detection content.
    ``--require-engine``  fail, instead of skipping, live tests when no engine can be had, and
        scenario items whose scenario skipped (or STOWAWAY_REQUIRE_ENGINE=1, which CI sets).

Markers
    ``integration``   needs a real Docker engine (the lab starts its private one as root).
    ``scenario(id)``  the test is about that scenario; the ``scenario_outcome`` fixture runs it.
    ``destructive``   changes state on the lab engine or on lab-owned host paths.

Fixtures
    ``lab_session`` (session)  the LabSession: engine lease, networks, sinkhole. Brought up once, on
        first use, and torn down when the pytest session ends, whatever happened.
    ``monitor`` (session)      the detectors (sensors, rules, analytics) attached to that engine.
    ``registry`` (session)     every registered scenario.
    ``run_scenario``           ``run_scenario(id, backend="docker") -> Outcome``: detonate and judge.
    ``scenario_outcome``       the Outcome of the test's ``scenario(id)`` marker.
    ``lab``                    a fresh ``Lab`` scope for a hand-written test (deploy, exec, action);
        its cleanup stack is unwound at teardown, and a failed undo fails the test.
    ``lab_leftovers``          ``lab_leftovers(objects=(), scope=None) -> dict``: testinfra's view of
        what of this session's run is still on the host ({} when clean); see harness/hoststate.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from harness.outcome import Outcome, Verdict

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr  # pytest exports no public name for it


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stowaway")
    group.addoption("--require-engine", action="store_true", default=False,
                    help="fail, instead of skipping, the live tests when no Docker engine can be had")
    group.addoption("--stowaway-scenarios", nargs="?", const="all", default=None, metavar="SELECTORS",
                    help="add one test item per scenario (all, or comma-separated ids, tags or ATT&CK ids)")
    group.addoption("--stowaway-rules", action="append", default=[], metavar="DIR",
                    help="Sigma rule directory for the monitor instead of the shipped one (repeatable)")
    group.addoption("--stowaway-policy", action="append", default=[], metavar="DIR",
                    help="policy directory for the monitor instead of the shipped one (repeatable)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a real Docker engine")
    config.addinivalue_line("markers", "scenario(id): the test runs that scenario (see the scenario_outcome fixture)")
    config.addinivalue_line("markers", "destructive: changes state on the lab engine or on lab-owned host paths")
    config.stash[_LAB] = _SharedLab(config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    shared = session.config.stash.get(_LAB, None)
    if shared is not None:
        shared.close()


def _require(config: pytest.Config) -> bool:
    return bool(config.getoption("--require-engine")) or os.environ.get("STOWAWAY_REQUIRE_ENGINE") == "1"


def scenario_skipped(config: pytest.Config, outcome: Outcome) -> NoReturn:
    """A scenario that could not run here. Where the engine is required (CI), that is a failure:
    a skip proves nothing, and a suite whose scenarios skip must not go green. Elsewhere a skip
    with its reason, as for the engine itself."""
    message = f"{outcome.scenario_id} skipped: {outcome.reason}"
    if _require(config):
        pytest.fail(message + " (a skip fails under --require-engine)", pytrace=False)
    pytest.skip(message)


def collateral_problem(outcome: Outcome) -> str | None:
    """What makes a detected adversary fail anyway: a rule outside fires and may_fire alerted on it."""
    unlisted = outcome.unlisted_collateral
    if not unlisted:
        return None
    return "unlisted collateral (false positives): " + ", ".join(f"{c.rule_id} on {c.object}" for c in unlisted)


class _SharedLab:
    """One lab per pytest session, shared by the fixtures and the scenario items, up on first use."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.session: Any = None
        self.monitor: Any = None
        self.unavailable: str | None = None
        self.broken: str | None = None  # the detectors failed to load: every later user fails the same way

    def get(self) -> tuple[Any, Any]:
        from lab import EngineUnavailable, LabSession

        if self.unavailable is None and self.broken is None and self.session is None:
            session = LabSession()
            try:
                session.up()
            except EngineUnavailable as exc:
                self.unavailable = str(exc)
            else:
                from harness.monitoring import build_monitor

                try:
                    self.monitor = build_monitor(
                        session.engine, [Path(d) for d in self.config.getoption("--stowaway-rules")],
                        [Path(d) for d in self.config.getoption("--stowaway-policy")], run_id=session.run_id)
                    self.monitor.start()
                except BaseException as exc:
                    session.down(status="failed")
                    self.broken = f"{type(exc).__name__}: {exc}"
                    raise
                self.session = session
        if self.broken is not None:
            pytest.fail(f"the detectors could not start: {self.broken}")
        if self.unavailable is not None:
            if _require(self.config):
                pytest.fail(f"no Docker engine: {self.unavailable}")
            pytest.skip(f"no Docker engine: {self.unavailable}")
        return self.session, self.monitor

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor = None
        if self.session is not None:
            self.session.down()
            self.session = None


_LAB = pytest.StashKey[_SharedLab]()


@pytest.fixture(scope="session")
def lab_session(request: pytest.FixtureRequest) -> Any:
    return request.config.stash[_LAB].get()[0]


@pytest.fixture(scope="session")
def monitor(request: pytest.FixtureRequest, lab_session: Any) -> Any:
    return request.config.stash[_LAB].get()[1]


@pytest.fixture(scope="session")
def registry() -> Any:
    from scenarios.registry import load

    return load()


@pytest.fixture
def run_scenario(lab_session: Any, monitor: Any, registry: Any) -> Callable[[str], Outcome]:
    """Run one scenario by id in the session's lab, with the detectors attached; return its Outcome."""
    from harness.runner import execute

    def run(scenario_id: str, backend: str = "docker") -> Outcome:
        cls = registry.get(scenario_id)
        return execute(cls, lab_session, monitor, backend, progress=lambda _msg: None)

    return run


@pytest.fixture
def scenario_outcome(request: pytest.FixtureRequest, run_scenario: Callable[[str], Outcome]) -> Outcome:
    marker = request.node.get_closest_marker("scenario")
    if marker is None or not marker.args:
        raise pytest.UsageError("scenario_outcome needs @pytest.mark.scenario('<scenario id>') on the test")
    return run_scenario(str(marker.args[0]))


@pytest.fixture
def lab(lab_session: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    scope = lab_session.scope(f"test-{request.node.name}"[:80])
    try:
        yield scope
    finally:
        failures = scope.unwind()
        if failures:
            pytest.fail(f"cleanup failed: {'; '.join(failures)}")


@pytest.fixture
def lab_leftovers(lab_session: Any) -> Callable[..., dict[str, list[str]]]:
    from harness.hoststate import leftovers

    def check(objects: Iterable[str] = (), scope: str | None = None) -> dict[str, list[str]]:
        return leftovers(lab_session.run_id, lab_session.engine.base_url, objects, paths=lab_session.paths,
                         scope=scope)

    return check


# --- scenarios as items -------------------------------------------------------------------------


class ScenarioFailed(Exception):
    """A scenario item's expectation or host-state check failed; the message says which and why."""


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario_id: str, source: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario_id = scenario_id
        self.source = source
        self.add_marker("integration")
        self.add_marker(pytest.mark.scenario(scenario_id))

    def runtest(self) -> None:
        from harness.hoststate import leftovers
        from harness.runner import execute
        from scenarios.api import Kind
        from scenarios.registry import load

        cls = load().get(self.scenario_id)
        session, monitor = self.config.stash[_LAB].get()
        outcome = execute(cls, session, monitor, "docker", progress=lambda _msg: None)
        self.user_properties += [("verdict", outcome.verdict.value), ("latency_s", outcome.latency_s)]
        if outcome.verdict is Verdict.SKIPPED:
            scenario_skipped(self.config, outcome)
        wanted = Verdict.DETECTED if cls.kind is Kind.ADVERSARY else Verdict.SILENT
        if outcome.verdict is not wanted:
            raise ScenarioFailed(f"{outcome.verdict.value} (wanted {wanted.value}): {outcome.reason}")
        problem = collateral_problem(outcome)
        if problem:
            raise ScenarioFailed(f"{wanted.value}, but {problem}")
        left = leftovers(session.run_id, session.engine.base_url, outcome.objects, paths=session.paths,
                         scope=cls.id)
        if left:
            raise ScenarioFailed(f"{wanted.value}, but left behind on the host: {left}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, ScenarioFailed):
            return f"{self.scenario_id}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return Path(self.source), 0, f"scenario {self.scenario_id}"


def _selected(selectors: str) -> list[tuple[str, str]]:
    from scenarios.registry import ScenarioError, load

    try:
        registry = load()
    except ScenarioError as exc:  # a broken scenario file is the user's input: say which, no traceback
        raise pytest.UsageError(f"--stowaway-scenarios: {exc}") from None
    if selectors == "all":
        chosen = registry.all()
    else:
        tokens = [t.strip() for t in selectors.split(",") if t.strip()]
        ids = [t for t in tokens if t in registry.scenarios]
        techniques = [t for t in tokens if t not in ids and t[:1].upper() == "T" and t[1:5].isdigit()]
        tags = [t for t in tokens if t not in ids and t not in techniques]
        chosen = registry.select(ids=ids) if ids else []
        if tags:
            chosen += registry.select(tags=tags)
        if techniques:
            chosen += registry.select(techniques=techniques)
        if not chosen:
            raise pytest.UsageError(f"--stowaway-scenarios={selectors}: matches no scenario")
    unique = {cls.id: registry.sources[cls.id] for cls in chosen if "docker" in cls.backends}
    return sorted(unique.items())


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect, so they apply to scenario items too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    selectors = config.getoption("--stowaway-scenarios")
    if not selectors:
        return
    for scenario_id, source in _selected(selectors):
        items.append(ScenarioItem.from_parent(session, name=scenario_id, path=Path(source),
                                              nodeid=f"scenario::{scenario_id}", scenario_id=scenario_id,
                                              source=source))
