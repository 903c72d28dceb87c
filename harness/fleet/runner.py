"""The soak: deploy the fleet through one ``Lab`` scope of the run's session, wait until every
service is up, hold it under the run's monitor for its minutes, collect every alert on its objects
(each one a false positive), run each service's check, and tear it all down, whatever happened.

``alongside`` runs a soak in a thread of its own beside a run's scenarios: the fleet starts with
the run, and the soak ends when its minutes are up or when the scenarios are done, whichever is
later. An exception or a signal in the run aborts it, and its scope still unwinds.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from detectors.alert import Alert
from detectors.engine import Monitor
from harness.fleet import usage
from harness.fleet.checks import Health, health
from harness.fleet.context import Fleet, Running
from harness.fleet.registry import CheckFailed, Registry, Service
from harness.fleet.services import SERVICES
from harness.outcome import FleetService, SoakResult
from lab import LabSession

Progress = Callable[[str], None]

READY_TIMEOUT_S = 240  # every service up and healthy, from the first deploy (image builds come before)
SETTLE_TIMEOUT_S = 240  # work in flight at the end (a CI pipeline) finishing before the checks
ALERT_GRACE_S = 3.0  # alerts about the last seconds (sustained-sample analytics) land before collection
HOLD_TICK_S = 1.0


class SoakAborted(Exception):
    """The run was interrupted (or failed) while the fleet was up."""


@dataclass(slots=True)
class SoakHandle:
    """What ``alongside`` hands back: the soak's result once it has ended (None when none ran)."""

    result: SoakResult | None = None


class Soak:
    def __init__(self, session: LabSession, monitor: Monitor, minutes: float, progress: Progress,
                 registry: Registry = SERVICES) -> None:
        if minutes <= 0:
            raise ValueError(f"a soak needs a positive number of minutes, not {minutes:g}")
        self.session = session
        self.monitor = monitor
        self.minutes = minutes
        self.progress = progress
        self.registry = registry
        self.release = threading.Event()  # set when the run's scenarios are done
        self.abort = threading.Event()  # set when the run is interrupted or failed
        self.lab = session.scope("services")
        self.fleet = Fleet(self.lab, minutes)
        self.broken: dict[str, str] = {}  # service -> why it did not start or come up

    # --- the whole soak -------------------------------------------------------------------------
    def run(self, wait_for_release: bool = False) -> SoakResult:
        """Deploy, hold, check, tear down. ``wait_for_release``: also hold until ``release`` is set."""
        started = time.time()
        status, reason = "complete", ""
        checks: dict[str, tuple[list[str], bool]] = {}
        alerts: list[Alert] | None = None
        try:
            self._deploy_all()
            self._wait_ready()
            before = self._usage()
            self._hold(wait_for_release)
            after = self._usage()
            self._settle()
            # Before the checks: their own execs into the containers are the harness's, not the services'.
            alerts = self._alerts()
            checks = self._check_all(before, after)
        except SoakAborted as exc:
            status, reason = "error", f"aborted: {exc}"
        except Exception as exc:  # the soak's own failure is its error, never the run's crash
            status, reason = "error", f"{type(exc).__name__}: {exc}"
        finally:
            if self.fleet.held_until is None and self.fleet.held_from is not None:
                self.fleet.held_until = time.time()
            if alerts is None:  # it ended before the checks: what the monitor saw until now
                with contextlib.suppress(Exception):
                    alerts = self._alerts()
            self.progress(f"soak: tearing down {len(self.fleet.running)} service(s)")
            failures = self.lab.unwind()
            if failures:
                status = "error"
                reason = (reason + "; " if reason else "") + f"cleanup failed: {'; '.join(failures)}"
        alerts = alerts or []
        services = self._services(checks)
        unhealthy = [s.name for s in services if not s.healthy]
        if status == "complete" and unhealthy:
            status = "error"
            reason = f"{len(unhealthy)} service(s) did not do their job: {', '.join(unhealthy)}"
        held_min = self.fleet.held_s() / 60
        rules = Counter(a.rule_id for a in alerts)
        seen = (f"{len(alerts)} alert(s), each a false positive: "
                + ", ".join(f"{rule} x{n}" for rule, n in sorted(rules.items()))) if alerts else "no alert"
        if reason:
            reason = f"{reason}; {seen}"
        else:
            reason = f"{len(services)} services ran {held_min:.1f} min under watch and every check passed; {seen}"
        self.progress(f"soak: {status}: {reason}")
        return SoakResult(minutes=round(held_min, 2), started_at=started, finished_at=time.time(), status=status,
                          reason=reason, services=services, alerts=[a.to_dict() for a in alerts])

    def _alerts(self) -> list[Alert]:
        """Every alert on the fleet's objects since its first deploy, after a short grace for alerts
        about the last seconds."""
        if not self.abort.is_set():
            time.sleep(ALERT_GRACE_S)
        return self.monitor.alerts_for(self.lab.object_refs(), since=self.lab.started_at)

    # --- deploy ---------------------------------------------------------------------------------
    def _deploy_all(self) -> None:
        ordered = self.registry.ordered()
        self.progress(f"soak: building and starting {len(ordered)} services (images cached by recipe)")
        for service in ordered:
            if self.abort.is_set():
                raise SoakAborted("while the services were starting")
            missing = [n for n in service.needs if n not in self.fleet.running or n in self.broken]
            if missing:
                self.broken[service.name] = f"not started: {', '.join(missing)} did not come up"
                continue
            if not self._ready([self.fleet.running[n] for n in service.needs], READY_TIMEOUT_S):
                self.broken[service.name] = f"not started: {', '.join(service.needs)} did not become healthy"
                continue
            try:
                running = service.start(self.fleet)
            except Exception as exc:  # one service failing to start is its failure, not the soak's end
                self.broken[service.name] = f"did not start: {type(exc).__name__}: {exc}"
                self.progress(f"soak: {service.name} {self.broken[service.name]}")
                continue
            self.fleet.running[service.name] = running
            for periodic in self.fleet.periodic:
                periodic.owner = periodic.owner or service.name
            self.progress(f"soak: {service.name} started ({', '.join(w.name for w in running.workloads)})")

    def _health(self, running: Running) -> list[tuple[str, Health]]:
        client = self.session.engine.client
        states = []
        for workload in running.workloads:
            for cid in workload.container_ids or [workload.id]:
                try:
                    states.append((cid, health(client.api.inspect_container(cid))))
                except Exception:
                    states.append((cid, Health(state="gone")))
        return states

    def _ready(self, services: list[Running], timeout: float) -> bool:
        """Wait until each service's containers run and pass their health check; a service that does
        not is marked broken (False when any is)."""
        deadline = time.monotonic() + timeout
        waiting = list(services)
        while waiting and time.monotonic() < deadline and not self.abort.is_set():
            states = {r.name: [h for _, h in self._health(r)] for r in waiting}
            waiting = [r for r in waiting if not all(h.ready for h in states[r.name])]
            # A container that exited (or is gone) will not become healthy by waiting for it.
            if all(any(h.state in ("exited", "gone") for h in states[r.name]) for r in waiting):
                break
            if waiting:
                time.sleep(1.0)
        for running in waiting:
            summary = ", ".join(f"{cid[:12]} {h.state}" for cid, h in self._health(running))
            self.broken.setdefault(running.name, f"never became healthy within {timeout:.0f}s ({summary})")
        return not waiting

    def _wait_ready(self) -> None:
        started = time.monotonic()
        self._ready(list(self.fleet.running.values()), READY_TIMEOUT_S)
        if self.abort.is_set():
            raise SoakAborted("while waiting for the services to become healthy")
        up = len(self.fleet.running) - len(self.broken.keys() & self.fleet.running.keys())
        self.progress(f"soak: {up} of {len(self.registry)} services up and healthy "
                      f"({time.monotonic() - started:.0f} s after the last start); holding {self.minutes:g} min")

    # --- hold ---------------------------------------------------------------------------------------
    def _hold(self, wait_for_release: bool) -> None:
        fleet = self.fleet
        fleet.held_from = time.time()
        deadline = fleet.held_from + self.minutes * 60
        said_waiting = False
        while True:
            now = time.time()
            done = now >= deadline and (not wait_for_release or self.release.is_set())
            if done:
                break
            if now >= deadline and not said_waiting:
                self.progress("soak: its minutes are up; it ends when the scenarios are done")
                said_waiting = True
            end_known = not wait_for_release or self.release.is_set()
            for periodic in fleet.periodic:
                due = fleet.held_from + periodic.next_at
                if now < due:
                    continue
                periodic.next_at += periodic.every_s
                if end_known and now + periodic.last_ok_before_end_s > deadline:
                    continue  # it could not finish before the end: skip this beat
                try:
                    periodic.action()
                    periodic.fired += 1
                except Exception as exc:
                    periodic.errors.append(f"{type(exc).__name__}: {exc}")
            if self.abort.wait(HOLD_TICK_S):
                raise SoakAborted(f"after {time.time() - fleet.held_from:.0f} s of the soak")
        fleet.held_until = time.time()

    def _settle(self) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        for service in self.registry.ordered():
            running = self.fleet.running.get(service.name)
            if service.settle is None or running is None or service.name in self.broken:
                continue
            while time.monotonic() < deadline and not self.abort.is_set():
                try:
                    if service.settle(self.fleet, running):
                        break
                except Exception:
                    break  # the check will say what is wrong
                time.sleep(2.0)

    # --- checks ---------------------------------------------------------------------------------------
    def _usage(self) -> dict[str, tuple[usage.Sample | None, float]]:
        samples: dict[str, tuple[usage.Sample | None, float]] = {}
        client = self.session.engine.client
        for name, running in self.fleet.running.items():
            total: usage.Sample | None = usage.Sample(0.0, 0)
            for workload in running.workloads:
                for cid in workload.container_ids or [workload.id]:
                    try:
                        pid = int(client.api.inspect_container(cid)["State"]["Pid"] or 0)
                    except Exception:
                        pid = 0
                    one = usage.sample(cid, pid)
                    total = None if one is None or total is None else \
                        usage.Sample(total.cpu_s + one.cpu_s, total.memory_bytes + one.memory_bytes)
            samples[name] = (total, time.time())
        return samples

    def _check_all(self, before: dict[str, tuple[usage.Sample | None, float]],
                   after: dict[str, tuple[usage.Sample | None, float]]) -> dict[str, tuple[list[str], bool]]:
        results: dict[str, tuple[list[str], bool]] = {}
        for service in self.registry.ordered():
            running = self.fleet.running.get(service.name)
            if running is None or service.name in self.broken:
                continue
            lines, ok = self._check(service, running)
            first, at_first = before.get(service.name, (None, 0.0))
            last, at_last = after.get(service.name, (None, 0.0))
            lines.append(usage.describe(first, last, at_last - at_first))
            results[service.name] = (lines, ok)
        return results

    def _check(self, service: Service, running: Running) -> tuple[list[str], bool]:
        lines: list[str] = []
        ok = True
        states = self._health(running)
        if not all(h.ready for _, h in states):
            ok = False
            lines.append("FAILED: not running healthy at the end: "
                         + ", ".join(f"{c[:12]} {h.state}" for c, h in states))
        checked = [h for _, h in states if h.has_check]
        if checked:
            passed = sum(h.probes_passed for h in checked)
            failed = sum(h.probes_failed for h in checked)
            lines.append(f"health check: {', '.join(h.state for h in checked)}; of the last probes the engine keeps, "
                         f"{passed} passed, {failed} failed")
        for periodic in self.fleet.periodic:
            if periodic.owner == service.name:
                lines.append(f"{periodic.what}: fired {periodic.fired} time(s)")
                if periodic.errors:
                    ok = False
                    lines.append(f"FAILED: {periodic.what}: {periodic.errors[-1]}")
        try:
            lines.extend(service.check(self.fleet, running))
        except CheckFailed as exc:
            ok = False
            lines.append(f"FAILED: {exc}")
        except Exception as exc:  # LabError from an exec, or the service's output not parsing
            ok = False
            lines.append(f"FAILED: the check itself could not run: {type(exc).__name__}: {exc}")
        return lines, ok

    def _services(self, checks: dict[str, tuple[list[str], bool]]) -> list[FleetService]:
        out = []
        for service in self.registry.ordered():
            running = self.fleet.running.get(service.name)
            objects = running.refs if running is not None else []
            if service.name in self.broken:
                out.append(FleetService(name=service.name, does=service.does, objects=objects,
                                        checks=[f"FAILED: {self.broken[service.name]}"], healthy=False))
                continue
            lines, ok = checks.get(service.name, (["not checked: the soak ended before its checks"], False))
            out.append(FleetService(name=service.name, does=service.does, objects=objects, checks=lines, healthy=ok))
        return out


def run_soak(session: LabSession, monitor: Monitor, minutes: float, progress: Progress,
             registry: Registry = SERVICES) -> SoakResult:
    """A soak on its own, in this thread (the monitor must already be running)."""
    return Soak(session, monitor, minutes, progress, registry).run()


@contextlib.contextmanager
def alongside(session: LabSession, monitor: Monitor, minutes: float | None, progress: Progress,
              registry: Registry = SERVICES) -> Iterator[SoakHandle]:
    """Run a soak beside whatever the ``with`` block does (the run's scenarios). No minutes: nothing."""
    handle = SoakHandle()
    if not minutes:
        yield handle
        return
    soak = Soak(session, monitor, minutes, progress, registry)
    ended = threading.Event()

    def body() -> None:
        try:
            handle.result = soak.run(wait_for_release=True)
        finally:
            ended.set()

    threading.Thread(target=body, name="soak", daemon=True).start()
    try:
        yield handle
    except BaseException:
        soak.abort.set()
        _wait_ended(ended, soak)
        raise
    soak.release.set()
    _wait_ended(ended, soak)


TEARDOWN_WAIT_S = 120


def _wait_ended(ended: threading.Event, soak: Soak) -> None:
    """Wait for the soak's thread in short slices, so a signal in this thread still lands; on one,
    abort the soak and let its own teardown finish (bounded) before re-raising, so the session's
    teardown never races it. An Event, not Thread.join: a join interrupted by KeyboardInterrupt can
    report the thread finished while it still runs (CPython gh-90882)."""
    try:
        while not ended.wait(0.5):
            pass
    except BaseException:
        soak.abort.set()
        deadline = time.monotonic() + TEARDOWN_WAIT_S
        while not ended.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: teardown is already under way
                ended.wait(0.5)
        raise
