"""Staged detonations (harness/staged.py, staged_state.py, staged_holder.py) without a lab: the state
record, refusals and their messages, the deferral of what the runner's execute() undoes, and revert's
paths (holder alive, holder gone, an interrupted revert run again), with the lab boundary faked."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness import cli, labctl, staged, staged_state
from harness.outcome import Collateral, Outcome, Verdict
from harness.staged_holder import HoldingSession, detonate_kept, relay
from harness.staged_state import KeptDetonation, StateError
from lab import LabPaths
from scenarios.api import Expectation, Kind, Scenario
from scenarios.registry import load

ADVERSARY = "docker.logging.log-driver-none"
SHARED_STATE = "docker.tamper.daemon-config"  # parallel_safe = False: changes the engine's config
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def paths(tmp_path, monkeypatch) -> LabPaths:
    """The lab's state and runtime under tmp_path, for this process and the commands it runs."""
    monkeypatch.setenv("STOWAWAY_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("STOWAWAY_RUNTIME", str(tmp_path / "run"))
    paths = LabPaths.default()
    paths.ensure()
    return paths


def kept(scenario_id: str = ADVERSARY, **changes) -> KeptDetonation:
    record = KeptDetonation(scenario_id=scenario_id, detonation_id=scenario_id, variant={"driver": "none"},
                            backend="docker", docker_host=None, holder_pid=999_999_999, status="kept",
                            run_id="20990101-000000-abcdef", engine="unix:///run/stowaway/docker.sock",
                            objects=["container:c0ffee"], cleanups=["remove container:c0ffee"])
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def holder_like(code: str) -> subprocess.Popen[str]:
    """A process whose command line names the holder's module, as a real holder's does; ``code`` runs
    in it and must print "ready" first."""
    process = subprocess.Popen([sys.executable, "-c", code, staged_state.HOLDER_MODULE], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


@pytest.fixture
def live_holder():
    """The pid of a live process that passes for a holder."""
    process = holder_like("import time; print('ready', flush=True); time.sleep(120)")
    yield process.pid
    process.kill()
    process.wait()


@pytest.fixture
def no_sweep(monkeypatch):
    """Fail if revert reaches for the engine; the host-side check finds nothing."""
    def refuse(*_a, **_k):
        raise AssertionError("revert swept with the holder's release clean")

    monkeypatch.setattr(staged, "sweep", refuse)
    monkeypatch.setattr(staged, "host_leftovers", lambda run_id, paths: [])


@pytest.fixture
def fake_sweep(monkeypatch):
    """A sweep that records its calls and answers what each call should find left (default: nothing)."""
    calls: list[tuple[str, str | None]] = []
    left: list[list[str]] = []

    def sweep(run_id, docker_host, paths):
        calls.append((run_id, docker_host))
        return "2 container(s), 3 network(s)", left.pop(0) if left else []

    monkeypatch.setattr(staged, "sweep", sweep)
    monkeypatch.setattr(staged, "host_leftovers", lambda run_id, paths: [])
    return calls, left


# --- the state record ---------------------------------------------------------------------------------


def test_a_record_round_trips_and_is_named_after_the_scenario(paths):
    record = kept()
    record.save(paths)
    assert staged_state.record_path(paths, ADVERSARY) == paths.runtime / "staged" / f"{ADVERSARY}.json"
    assert staged_state.read(paths, ADVERSARY) == record
    assert staged_state.read(paths, "docker.other.thing") is None
    assert not list((paths.runtime / "staged").glob("*.tmp"))  # replaced atomically, nothing half-written


def test_a_claim_is_exclusive(paths):
    kept(status="detonating").claim(paths)
    with pytest.raises(StateError, match="another detonation"):
        kept(status="detonating").claim(paths)


@pytest.mark.parametrize(("text", "problem"), [("{not json", "not a detonation state record"),
                                                ('{"scenario_id": "x"}', "not a detonation state record"),
                                                (None, "field status: 'exploded'")])
def test_an_unreadable_record_is_named(paths, text, problem):
    path = staged_state.record_path(paths, ADVERSARY)
    path.parent.mkdir(parents=True)
    if text is None:
        kept().save(paths)
        text = path.read_text().replace('"kept"', '"exploded"')
    path.write_text(text)
    with pytest.raises(StateError, match=problem) as caught:
        staged_state.read(paths, ADVERSARY)
    assert str(path) in str(caught.value)
    assert staged_state.every(paths) == []  # a listing skips it; `read` names it


def test_every_lists_records_oldest_first_and_by_run(paths):
    kept("b.second", started_at=2.0, run_id="run-b").save(paths)
    kept("a.first", started_at=1.0, run_id=None).save(paths)
    assert [r.scenario_id for r in staged_state.every(paths)] == ["a.first", "b.second"]
    assert list(staged_state.by_run(paths)) == ["run-b"]


# --- what to detonate, and refusals ---------------------------------------------------------------------


def test_resolve_takes_scenario_and_variant_ids():
    registry = load()
    assert staged.resolve(registry, ADVERSARY).variant is None
    target = staged.resolve(registry, f"{ADVERSARY}@driver=syslog")
    assert target.cls.id == ADVERSARY and target.variant == {"driver": "syslog"}
    assert target.ident == f"{ADVERSARY}@driver=syslog"
    assert staged.resolve(registry, f"{ADVERSARY}@canonical").variant == {"driver": "none"}


def test_resolve_names_what_is_wrong():
    registry = load()
    with pytest.raises(staged.StagedError, match=r"no scenario 'docker\.nope'"):
        staged.resolve(registry, "docker.nope")
    with pytest.raises(staged.StagedError, match=r"no such variant .* driver: none, syslog, gelf, fluentd"):
        staged.resolve(registry, f"{ADVERSARY}@driver=carrier-pigeon")


def test_check_refuses_another_backend_and_keeping_shared_state(paths):
    registry = load()
    with pytest.raises(staged.StagedError, match="does not run on the swarm backend"):
        staged.check(staged.resolve(registry, ADVERSARY), "swarm", False, paths)
    with pytest.raises(staged.StagedError, match="--keep: it changes state that every run on the engine shares"):
        staged.check(staged.resolve(registry, SHARED_STATE), "docker", True, paths)
    staged.check(staged.resolve(registry, SHARED_STATE), "docker", False, paths)  # without --keep: fine


def test_check_refuses_a_kept_id_naming_revert(paths):
    kept().save(paths)
    target = staged.resolve(load(), f"{ADVERSARY}@driver=gelf")  # the record is per scenario, not per variant
    for keep in (True, False):
        with pytest.raises(staged.StagedError, match=f"already kept .* `stowaway revert {ADVERSARY}` first"):
            staged.check(target, "docker", keep, paths)


def test_check_clears_a_claim_whose_command_died_before_any_holder(paths):
    kept(status="detonating", run_id=None).save(paths)  # pid 999999999: gone
    staged.check(staged.resolve(load(), ADVERSARY), "docker", True, paths)
    assert staged_state.read(paths, ADVERSARY) is None


def test_a_live_claim_is_refused_as_being_detonated(paths, live_holder):
    kept(status="detonating", holder_pid=live_holder).save(paths)
    with pytest.raises(staged.StagedError, match=r"being detonated with --keep right now \(pid"):
        staged.check(staged.resolve(load(), ADVERSARY), "docker", True, paths)


# --- the command line: refused before anything starts ---------------------------------------------------


def test_detonate_a_kept_id_exits_2_naming_revert(paths, no_lab, capsys):
    kept().save(paths)
    assert cli.main(["detonate", ADVERSARY, "--keep"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {ADVERSARY} is already kept") and f"`stowaway revert {ADVERSARY}`" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["detonate", "docker.nope"], "no scenario 'docker.nope'"),
    (["detonate", ADVERSARY, "--backend", "swarm"], "does not run on the swarm backend"),
    (["detonate", SHARED_STATE, "--keep"], "--keep: it changes state"),
    (["revert", ADVERSARY], f"{ADVERSARY}: no kept detonation to revert (no state record"),
    (["revert", "docker.nope"], "docker.nope: no kept detonation to revert"),
])
def test_bad_input_exits_2_and_names_the_thing(paths, no_lab, capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_revert_of_another_variant_than_the_kept_one_is_refused(paths, no_lab, capsys):
    kept(detonation_id=f"{ADVERSARY}@driver=gelf").save(paths)
    assert cli.main(["revert", f"{ADVERSARY}@driver=syslog"]) == 2
    assert f"the kept detonation of {ADVERSARY} is {ADVERSARY}@driver=gelf" in capsys.readouterr().err
    assert staged_state.read(paths, ADVERSARY) is not None


def test_detonate_withdraws_its_claim_when_the_holder_never_took_it(paths, monkeypatch):
    import harness.staged_holder as holder

    def broken(*_a, **_k):
        raise OSError("no python here")

    monkeypatch.setattr(holder, "_start_and_relay", broken)
    with pytest.raises(OSError):
        detonate_kept(staged.resolve(load(), ADVERSARY), "docker", None, lambda _m: None, io.StringIO())
    assert staged_state.read(paths, ADVERSARY) is None


def test_detonate_loses_a_claim_race_with_the_refusal(paths, live_holder):
    kept(status="detonating", holder_pid=live_holder).claim(paths)
    with pytest.raises(staged.StagedError, match="being detonated with --keep right now"):
        detonate_kept(staged.resolve(load(), ADVERSARY), "docker", None, lambda _m: None, io.StringIO())
    assert staged_state.read(paths, ADVERSARY) is not None  # the winner's claim is left alone


# --- deferring what execute() undoes ----------------------------------------------------------------------


class Marked(Scenario):
    """Registers an undo step and has a revert of its own; both write to ``log``."""

    id = "custom.marked"
    title = "marks"
    kind = Kind.BENIGN
    techniques = ("T1610",)
    expect = Expectation(silent=("stowaway.docker.logging-disabled",), window_s=0.05)
    description = "Marks."
    log: list[str] = []

    def detonate(self, lab) -> None:
        lab.action("mark")
        lab.cleanup("remove marker", lambda: self.log.append("cleanup"))
        lab.cleanup("remove host dir /x", lambda: self.log.append("cleanup 2"))

    def revert(self, lab) -> None:
        self.log.append(f"revert {type(self).__name__}")


class FakeMonitor:
    def alerts_for(self, refs, since=0.0):
        return []

    def sources_for(self, refs):
        return set()


def test_execute_leaves_a_held_scope_and_revert_for_release(paths):
    from harness.runner import execute

    Marked.log = []
    session = HoldingSession(paths=paths)
    deferred = session.deferring(Marked)
    assert deferred.id == Marked.id and deferred.__module__ == Marked.__module__
    outcome = execute(deferred, session, FakeMonitor(), "docker", lambda _m: None)  # type: ignore[arg-type]
    assert outcome.verdict is Verdict.SILENT, outcome.reason
    assert Marked.log == []  # execute()'s finally reverted and unwound nothing: it is all still there
    assert session.pending() == ["remove host dir /x", "remove marker"]
    assert session.release_kept() == []
    assert Marked.log == ["revert Marked", "cleanup 2", "cleanup"]  # the original revert, then last-in-first-out
    assert session.release_kept() == [] and Marked.log == ["revert Marked", "cleanup 2", "cleanup"]  # once only


def test_a_failing_step_does_not_stop_the_release_and_down_releases_too(paths):
    session = HoldingSession(paths=paths)
    lab = session.scope("x")
    ran: list[str] = []

    def boom() -> None:
        raise RuntimeError("busy")

    lab.cleanup("first", lambda: ran.append("first"))
    lab.cleanup("second", boom)
    assert lab.unwind() == [] and ran == []
    problems = session.down()  # never up: only the release has anything to do
    assert problems == ["second: busy"] and ran == ["first"] and session.problems == problems
    assert session.torn_down


class FakeChannel:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    def send(self, message: dict) -> None:
        self.messages.append(message)

    def progress(self, message: str) -> None:
        self.send({"progress": message})

    def lines(self, lines: list[str]) -> None:
        for line in lines:
            self.send({"line": line})

    def detach(self) -> None:
        self.send({"detached": True})


@pytest.fixture
def holder_without_lab(paths, monkeypatch):
    """``hold`` with the lab boundary faked: no engine, and a detonation that registers one undo step
    in a held scope and ends with the verdict the test sets."""
    import contextlib
    import types

    import harness.staged_holder as holder

    ran: list[str] = []
    verdict: list[Verdict] = [Verdict.DETECTED]

    @contextlib.contextmanager
    def attached(session, progress):
        session.engine = types.SimpleNamespace(base_url="unix:///fake.sock")
        try:
            yield staged.Attached(session)
        finally:
            session.down()  # what the real one does on the way out: here, only the release

    def detonate_one(handle, target, backend, progress, cls=None):
        handle.session.scope("x").cleanup("remove container:c0ffee", lambda: ran.append("removed"))
        return Outcome(scenario_id=target.ident, title="t", kind="adversary", techniques=[], backend=backend,
                       verdict=verdict[0], reason="because", objects=["container:c0ffee"])

    monkeypatch.setattr(holder, "attached", attached)
    monkeypatch.setattr(holder, "detonate_one", detonate_one)
    monkeypatch.setattr(holder, "wait_for_revert", lambda: ran.append("revert asked"))
    kept(status="detonating", holder_pid=os.getppid(), run_id=None, objects=[], cleanups=[]).claim(paths)
    return holder, ran, verdict


def test_the_holder_keeps_then_releases_on_revert(paths, holder_without_lab, monkeypatch):
    holder, ran, _ = holder_without_lab
    states: list[str] = []
    original = KeptDetonation.save

    def save(record, where):
        states.append(record.status)
        original(record, where)

    monkeypatch.setattr(KeptDetonation, "save", save)
    channel = FakeChannel()
    assert holder.hold({"id": ADVERSARY, "backend": "docker"}, channel, paths) == 0
    assert states == ["detonating", "kept", "releasing", "released"]
    assert ran == ["revert asked", "removed"]  # the undo step waited for the revert
    record = staged_state.read(paths, ADVERSARY)
    assert record is not None and record.status == "released" and record.problems == []
    assert record.holder_pid == os.getpid() and record.cleanups == ["remove container:c0ffee"]
    done = [m["done"] for m in channel.messages if "done" in m]
    assert done == [{"exit": 0, "kept": True}]
    assert channel.messages.index({"done": {"exit": 0, "kept": True}}) < channel.messages.index({"detached": True})
    assert any(m.get("line") == f"undo:    stowaway revert {ADVERSARY}" for m in channel.messages)


def test_the_holder_keeps_nothing_of_a_detonation_that_failed(paths, holder_without_lab):
    holder, ran, verdict = holder_without_lab
    verdict[0] = Verdict.ERROR
    channel = FakeChannel()
    assert holder.hold({"id": ADVERSARY, "backend": "docker"}, channel, paths) == 1
    assert ran == ["removed"] and staged_state.read(paths, ADVERSARY) is None
    assert {"line": "not kept: the detonation ended error; its lab was torn down"} in channel.messages
    assert channel.messages[-1] == {"done": {"exit": 1, "kept": False}}


# --- reverting ------------------------------------------------------------------------------------------------


FAKE_HOLDER = textwrap.dedent("""
    import json, signal, sys, time
    path, problems = sys.argv[2:]
    def release(*_):
        record = json.load(open(path))
        record["status"], record["problems"] = "released", json.loads(problems)
        open(path, "w").write(json.dumps(record))
        sys.exit(0)
    signal.signal(signal.SIGTERM, release)
    print("ready", flush=True)
    while True:
        time.sleep(1)
""")


def fake_holder(paths: LabPaths, problems: list[str]) -> subprocess.Popen[str]:
    """A process standing in for the holder: on SIGTERM it marks the record released, as the real one does."""
    process = subprocess.Popen([sys.executable, "-c", FAKE_HOLDER, staged_state.HOLDER_MODULE,
                                str(staged_state.record_path(paths, ADVERSARY)), json.dumps(problems)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def revert(paths: LabPaths) -> tuple[int, str]:
    out = io.StringIO()
    code = staged.revert(ADVERSARY, paths, lambda _m: None, out)
    return code, out.getvalue()


def test_revert_asks_a_live_holder_and_says_what_went(paths, no_sweep):
    kept().save(paths)
    holder = fake_holder(paths, [])
    record = staged_state.read(paths, ADVERSARY)
    assert record is not None
    record.holder_pid = holder.pid
    record.save(paths)
    code, out = revert(paths)
    holder.wait(timeout=10)
    assert code == 0, out
    assert "the holder ran the scenario's revert and 1 undo step(s)" in out and "remove container:c0ffee" in out
    assert "nothing of it is left; state record removed" in out
    assert staged_state.read(paths, ADVERSARY) is None


def test_revert_reports_what_the_holder_could_not_undo(paths, fake_sweep):
    kept().save(paths)
    holder = fake_holder(paths, ["revert: the file was locked", "left behind after teardown: {'containers': 1}"])
    record = staged_state.read(paths, ADVERSARY)
    assert record is not None
    record.holder_pid = holder.pid
    record.save(paths)
    code, out = revert(paths)
    holder.wait(timeout=10)
    calls, _ = fake_sweep
    assert calls == [(record.run_id, None)]  # what was left behind is swept
    assert code == 1 and "problem: revert: the file was locked" in out and "not everything could be undone" in out
    assert staged_state.read(paths, ADVERSARY) is None


def test_revert_without_the_holder_sweeps_the_run_and_names_what_only_it_could_undo(paths, fake_sweep):
    kept(docker_host="tcp://127.0.0.1:2375",
         cleanups=["remove container:c0ffee", "stop host process 4242", "remove host dir /x"]).save(paths)
    code, out = revert(paths)
    calls, _ = fake_sweep
    assert calls == [("20990101-000000-abcdef", "tcp://127.0.0.1:2375")]
    assert "died while the detonation was kept" in out and "removed: 2 container(s), 3 network(s)" in out
    assert "not undone (only its holder could): stop host process 4242" in out
    assert "remove container:c0ffee" not in out.split("not undone")[1]  # the sweep covers labelled objects
    assert code == 1 and staged_state.read(paths, ADVERSARY) is None


def test_an_interrupted_revert_runs_again_until_nothing_is_left(paths, fake_sweep):
    kept(status="releasing").save(paths)  # the holder died half-way through its release
    calls, left = fake_sweep
    left.append(["network stw-abcdef-lan"])  # the first sweep is cut short: something is still there
    code, out = revert(paths)
    assert code == 1 and "still there: network stw-abcdef-lan" in out and "run `stowaway revert" in out
    assert staged_state.read(paths, ADVERSARY) is not None  # kept, so the next revert finishes it
    code, out = revert(paths)
    assert code == 0, out
    assert "died while it was reverting" in out and len(calls) == 2
    assert staged_state.read(paths, ADVERSARY) is None
    with pytest.raises(staged.StagedError, match="no kept detonation to revert"):
        revert(paths)


def test_a_pid_that_is_not_a_holder_is_never_signalled(paths, fake_sweep, monkeypatch):
    assert not staged_state.is_holder(1) and not staged_state.is_holder(os.getpid())
    signalled: list[int] = []
    monkeypatch.setattr(staged.os, "kill", lambda pid, sig: signalled.append(pid))
    kept(holder_pid=1).save(paths)  # a forged or stale record: PID 1 is no holder, whatever it says
    code, out = revert(paths)
    assert signalled == [] and code == 0 and "died while the detonation was kept" in out


def test_revert_while_still_detonating_lets_the_holder_tear_down(paths, no_sweep):
    holder = holder_like(textwrap.dedent(f"""
        import os, signal, sys
        def torn_down(*_):
            os.unlink({str(staged_state.record_path(paths, ADVERSARY))!r})
            sys.exit(143)
        signal.signal(signal.SIGTERM, torn_down)
        print("ready", flush=True)
        signal.pause()
    """))
    kept(status="detonating", holder_pid=holder.pid, objects=[], cleanups=[]).save(paths)
    code, out = revert(paths)
    holder.wait(timeout=10)  # its status is lost: revert's liveness check reaps a child of ours
    assert code == 0 and "it was still detonating, and its holder tore run" in out


def test_revert_of_a_claim_that_never_started_a_run(paths, no_sweep):
    kept(status="detonating", run_id=None, cleanups=[], objects=[]).save(paths)
    code, out = revert(paths)
    assert code == 0 and "never started a run" in out
    assert staged_state.read(paths, ADVERSARY) is None


def test_revert_gives_up_on_a_holder_that_does_not_stop(paths, no_sweep, monkeypatch):
    sleeper = holder_like("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                          "print('ready', flush=True); time.sleep(60)")
    try:
        kept(holder_pid=sleeper.pid).save(paths)
        monkeypatch.setattr(staged, "REVERT_TIMEOUT_S", 0.5)
        code, out = revert(paths)
        assert code == 1 and f"the holder (pid {sleeper.pid}) is still tearing down" in out
        assert staged_state.read(paths, ADVERSARY) is not None
    finally:
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()


# --- what is printed, and what the lab's commands say about kept detonations ----------------------------


def test_render_prints_the_verdict_as_run_does_and_every_alert():
    outcome = Outcome(scenario_id=ADVERSARY, title="t", kind="adversary", techniques=[], backend="docker",
                      verdict=Verdict.DETECTED, reason="fired", action_at=100.0,
                      alerts=[{"rule_id": "stowaway.x", "severity": "high", "object": "container:c0ffee",
                               "title": "Bad thing", "first_seen": 100.5}],
                      collateral=[Collateral(rule_id="stowaway.y", object="container:c0ffee", allowed=False)])
    lines = staged.render(outcome, "run-1")
    assert lines[0] == "run run-1: FAIL (1 detected; 1 unlisted collateral alert(s))"
    assert f"  {ADVERSARY}: detected: fired" in lines
    assert "    false positive of stowaway.y on container:c0ffee (not in the scenario's may_fire)" in lines
    assert "  stowaway.x (high) on container:c0ffee, +0.5s after the action: Bad thing" in lines


def test_kept_lines_say_how_to_look_and_how_to_undo():
    lines = staged.kept_lines(kept())
    assert "  container:c0ffee" in lines
    assert any("--filter label=io.stowaway.run=20990101-000000-abcdef" in line for line in lines)
    assert lines[-1] == f"undo:    stowaway revert {ADVERSARY}"


def test_relay_passes_progress_and_lines_on_until_done():
    seen: list[str] = []
    out = io.StringIO()
    stream = io.BytesIO(b'{"progress": "lab: up"}\nnoise\n{"line": "run r: PASS"}\n'
                        b'{"done": {"exit": 0, "kept": true}}\n{"line": "never read"}\n')
    assert relay(stream, seen.append, out) == {"exit": 0, "kept": True}
    assert seen == ["lab: up"] and out.getvalue() == "run r: PASS\n"
    assert relay(io.BytesIO(b""), seen.append, out) is None  # the holder died without a word


def test_lab_status_lists_kept_detonations(paths, live_holder):
    kept(holder_pid=live_holder, kept_at=time.time()).save(paths)
    kept("docker.gone.one", holder_pid=999_999_999).save(paths)
    out = io.StringIO()
    assert labctl.status(paths, out) == 0  # no engine here: the listing needs none
    text = out.getvalue()
    assert "kept:    2 detonation(s)" in text
    assert f"{ADVERSARY}  run 20990101-000000-abcdef  holder pid {live_holder}, kept since" in text
    assert f"`stowaway revert {ADVERSARY}`" in text
    assert "docker.gone.one" in text and "holder gone (kept)" in text


def test_reap_says_it_left_kept_detonations_alone(paths, monkeypatch, live_holder):
    from lab.bookkeeping import ReapReport

    class FakeEngine:
        client = None

    monkeypatch.setattr(labctl.engine_mod, "acquire", lambda *_a, **_k: FakeEngine())
    monkeypatch.setattr(labctl.engine_mod, "release", lambda *_a, **_k: False)
    monkeypatch.setattr(labctl, "reap", lambda *_a, **_k: ReapReport())
    kept(holder_pid=live_holder).save(paths)
    out = io.StringIO()
    assert labctl.reap_dead(paths, out) == 0
    assert f"left alone: 1 kept detonation(s), live on purpose: {ADVERSARY} (run 20990101-000000-abcdef)" \
        in out.getvalue()
