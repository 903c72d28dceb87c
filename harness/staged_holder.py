"""The holder of a kept detonation (``stowaway detonate --keep``), and the command's side of it.

``detonate_kept`` claims the state record, starts ``python -m harness.staged_holder`` detached (a
new session, so it outlives the command and its terminal), hands it the request on stdin, and
relays what it says (progress lines, the verdict, what was kept) until it says it is done.

The holder runs the detonation as ``stowaway detonate`` without ``--keep`` does, with two things
postponed: the runner's ``execute`` reverts the scenario and unwinds its scope in its ``finally``,
which is right for a run; here the scenario class's ``revert`` and the scope's ``unwind`` are
deferred (``HoldingSession``), so the objects stay and the undo steps wait in this process. Once
the verdict is in, the holder detaches the detectors, writes the record (status kept), tells the
command, and sleeps. SIGTERM (``stowaway revert``) wakes it: it runs the deferred revert, unwinds
the stack, tears the run down like any run, and records what failed (status released).

Before the detonation is kept, losing the command (SIGINT or SIGTERM forwarded by it, or the command
gone: its pid is no longer our parent) tears everything down at once: nobody was told about it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, TextIO, cast

from harness import staged_state
from harness.outcome import Outcome
from harness.runner import Interrupted, _terminate_as_exception
from harness.staged import (
    EXIT_FAIL,
    EXIT_PASS,
    KEEPABLE,
    Progress,
    StagedError,
    Target,
    attached,
    detonate_one,
    kept_lines,
    refusal,
    render,
    resolve,
)
from harness.staged_state import KeptDetonation, StateError
from lab import Lab, LabPaths, LabSession
from scenarios.api import Scenario
from scenarios.variants import canonical

ROOT = Path(__file__).resolve().parent.parent
EXIT_SIGTERM = 143


# --- deferring what execute() undoes ------------------------------------------------------------------


class HeldScope(Lab):
    """A scope whose cleanup stack waits while ``held``: ``unwind`` does nothing until released."""

    def __init__(self, session: LabSession, scope: str) -> None:
        super().__init__(session, scope)
        self.held = True

    def unwind(self) -> list[str]:
        return [] if self.held else super().unwind()

    def pending(self) -> list[str]:
        """The waiting undo steps, in the order they will run (last registered first)."""
        with self._lock:
            return [what for what, _ in reversed(self._cleanups)]


class HoldingSession(LabSession):
    """A run whose scenario reverts and scope unwinds wait for ``release`` (and run in ``down`` at the latest)."""

    def __init__(self, docker_host: str | None = None, backend: str = "docker", paths: LabPaths | None = None) -> None:
        super().__init__(docker_host=docker_host, backend=backend, paths=paths)
        self.scopes: list[HeldScope] = []
        self.reverts: list[tuple[type[Scenario], Scenario, Lab]] = []
        self.problems: list[str] = []  # what the release and the teardown could not do
        self.torn_down = False  # down() ran to its end

    def scope(self, name: str) -> Lab:
        lab = HeldScope(self, name)
        self.scopes.append(lab)
        return lab

    def deferring(self, cls: type[Scenario]) -> type[Scenario]:
        """``cls`` with its ``revert`` postponed to ``release``. Same id, metadata and module: only
        the moment the revert runs changes."""
        session = self

        def revert(scenario: Scenario, lab: Lab) -> None:
            session.reverts.append((cls, scenario, lab))

        namespace = {"revert": revert, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
        return cast(type[Scenario], type(cls.__name__, (cls,), namespace))

    def pending(self) -> list[str]:
        return [step for lab in reversed(self.scopes) for step in lab.pending()]

    def release_kept(self) -> list[str]:
        """Run what execute() postponed, in execute()'s order: the scenario's revert, then its scope's
        cleanup stack. Every step runs even when one fails; the failures are returned."""
        failures = []
        while self.reverts:
            cls, scenario, lab = self.reverts.pop()
            try:
                cls.revert(scenario, lab)
            except Exception as exc:
                failures.append(f"revert: {exc}")
        while self.scopes:
            lab = self.scopes.pop()
            lab.held = False
            failures += lab.unwind()
        return failures

    def down(self, status: str = "complete") -> list[str]:
        problems = [*self.release_kept(), *super().down(status=status)]
        self.problems += problems
        self.torn_down = True
        return problems


# --- the holder process -----------------------------------------------------------------------------


class Channel:
    """JSON lines to the ``detonate`` command on stdout, until ``detach``; after it (or once the command
    is gone) lines go to stderr, which is the holder's log."""

    def __init__(self) -> None:
        self.attached = True

    def send(self, message: dict[str, Any]) -> None:
        if self.attached:
            try:
                print(json.dumps(message), flush=True)
                return
            except (BrokenPipeError, OSError):
                self.attached = False
        print(message.get("progress") or message.get("line") or json.dumps(message), file=sys.stderr, flush=True)

    def progress(self, message: str) -> None:
        self.send({"progress": message})

    def lines(self, lines: list[str]) -> None:
        for line in lines:
            self.send({"line": line})

    def detach(self) -> None:
        """Stop writing to the command's pipe: it has what it needs and is about to exit."""
        self.attached = False
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())


class ParentWatch:
    """SIGTERM to ourselves when the command that started us is gone, until ``stop``: a detonation
    nobody will hear about must not be kept."""

    def __init__(self) -> None:
        self.parent = os.getppid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="parent-watch", daemon=True)

    def start(self) -> ParentWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            if os.getppid() != self.parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return


def hold(request: dict[str, Any], channel: Channel, paths: LabPaths) -> int:
    """Detonate, keep, wait for SIGTERM, release. Returns the exit status."""
    from scenarios.registry import load

    target = resolve(load([]), str(request["id"]))
    record = staged_state.read(paths, target.cls.id)
    if record is None or record.holder_pid != os.getppid():
        channel.lines([f"error: the state record of {target.cls.id} is not the one the command claimed"])
        channel.send({"done": {"exit": EXIT_FAIL, "kept": False}})
        return EXIT_FAIL
    session = HoldingSession(docker_host=request.get("docker_host"), backend=str(request["backend"]), paths=paths)
    record.holder_pid, record.run_id = os.getpid(), session.run_id
    record.save(paths)  # from here on the run id is on disk: a revert can sweep it whatever happens to us
    watch = ParentWatch().start()
    kept = False
    outcome: Outcome | None = None
    try:
        with attached(session, channel.progress) as handle:
            outcome = detonate_one(handle, target, record.backend, channel.progress,
                                   session.deferring(target.cls))
            record.engine = session.engine.base_url
            if outcome.verdict in KEEPABLE:
                handle.stop_detectors()
                watch.stop()
                keep(record, outcome, session, paths)
                kept = True
                channel.lines([*render(outcome, session.run_id), *kept_lines(record)])
                channel.send({"done": {"exit": EXIT_PASS if outcome.passed else EXIT_FAIL, "kept": True}})
                channel.detach()
                wait_for_revert()
                record.status = "releasing"
                record.save(paths)
                channel.progress(f"revert: releasing run {session.run_id}")
    except BaseException:
        if not kept:
            record.remove(paths)  # attached() tore the run down: nothing is kept
        raise
    finally:
        watch.stop()
        if kept:
            # Released only when the teardown ran to its end; otherwise `stowaway revert` sweeps.
            record.status = "released" if session.torn_down else "releasing"
            record.problems = list(session.problems)
            record.save(paths)
    if kept:
        return EXIT_PASS
    record.remove(paths)
    assert outcome is not None
    channel.lines([*render(outcome, session.run_id),
                   f"not kept: the detonation ended {outcome.verdict.value}; its lab was torn down"])
    channel.send({"done": {"exit": EXIT_FAIL, "kept": False}})
    return EXIT_FAIL


def keep(record: KeptDetonation, outcome: Outcome, session: HoldingSession, paths: LabPaths) -> None:
    record.status, record.kept_at, record.verdict = "kept", time.time(), outcome.verdict.value
    record.objects, record.cleanups = list(outcome.objects), session.pending()
    record.save(paths)


def wait_for_revert() -> None:
    """Sleep until SIGTERM (``stowaway revert``). Further SIGTERMs are ignored from then on: the
    teardown that follows must not be cut short (``attached`` restores the handler after it)."""
    try:
        while True:
            time.sleep(3600)
    except Interrupted:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main() -> int:
    """``python -m harness.staged_holder``: the request is one JSON object on stdin."""
    request = json.loads(sys.stdin.read())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # no terminal of ours: only SIGTERM means stop
    channel = Channel()
    try:
        with _terminate_as_exception():
            return hold(request, channel, LabPaths.default())
    except Interrupted:
        return EXIT_SIGTERM
    except (StagedError, StateError) as exc:
        channel.lines([f"error: {exc}"])
        channel.send({"done": {"exit": EXIT_FAIL, "kept": False}})
        return EXIT_FAIL
    except Exception as exc:  # the command prints it; the traceback goes to the log (stderr)
        import traceback

        traceback.print_exc()
        channel.lines([f"error: {type(exc).__name__}: {exc}"])
        channel.send({"done": {"exit": EXIT_FAIL, "kept": False}})
        return EXIT_FAIL


# --- the command's side -----------------------------------------------------------------------------


def detonate_kept(target: Target, backend: str, docker_host: str | None, progress: Progress, out: TextIO) -> int:
    """Claim the record, start the holder, relay it. Interrupts reach the holder (which tears down)
    and then propagate.

    Raises:
        StagedError: another detonation of this scenario claimed the record first.
    """
    paths = LabPaths.default()
    cls = target.cls
    record = KeptDetonation(scenario_id=cls.id, detonation_id=target.ident,
                            variant=dict(target.variant if target.variant is not None else canonical(cls)),
                            backend=backend, docker_host=docker_host, holder_pid=os.getpid())
    try:
        record.claim(paths)
    except StateError:
        current = staged_state.read(paths, cls.id)
        raise StagedError(refusal(current) if current else f"{cls.id}: its state record is being replaced; "
                          "try again") from None
    log = staged_state.holder_log(paths, cls.id)
    try:
        return _start_and_relay(target, record, log, paths, progress, out)
    finally:
        # Until the holder takes the record over (its pid in it), the claim is ours to withdraw: a
        # holder that never started leaves nothing a revert would need.
        current = staged_state.read(paths, cls.id)
        if current is not None and current.holder_pid == os.getpid():
            current.remove(paths)


def _start_and_relay(target: Target, record: KeptDetonation, log: Path, paths: LabPaths, progress: Progress,
                     out: TextIO) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as handle:
        holder = subprocess.Popen([sys.executable, "-m", staged_state.HOLDER_MODULE], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=handle, start_new_session=True, cwd=str(ROOT))
    stdin, stdout = cast(IO[bytes], holder.stdin), cast(IO[bytes], holder.stdout)
    # The request first: whatever happens to this command afterwards, the holder is not left waiting.
    with contextlib.suppress(BrokenPipeError):
        stdin.write(json.dumps({"id": target.ident, "backend": record.backend,
                                "docker_host": record.docker_host}).encode())
        stdin.close()
    done: dict[str, Any] | None = None
    with _terminate_as_exception():
        try:
            progress(f"detonate: the holder (pid {holder.pid}) brings the lab up and keeps it; its log is {log}")
            done = relay(stdout, progress, out)
        except (KeyboardInterrupt, Interrupted):
            with contextlib.suppress(ProcessLookupError):
                holder.send_signal(signal.SIGTERM)
            with contextlib.suppress(KeyboardInterrupt, Interrupted, subprocess.TimeoutExpired, OSError):
                progress("detonate: interrupted: the holder tears the lab down")
                relay(stdout, progress, out)
                holder.wait(timeout=300)
            raise
    if done is None:
        code = holder.wait()
        if code == EXIT_SIGTERM and staged_state.read(paths, record.scenario_id) is None:
            print(f"detonate: its holder was stopped (SIGTERM: `stowaway revert {record.scenario_id}`, or a signal "
                  "to it) before the detonation was kept; it tore the lab down", file=out)
            return EXIT_FAIL
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        print(f"error: the holder exited with {code} before it said what happened; `stowaway revert "
              f"{record.scenario_id}` removes whatever it left; its log ({log}) ends:\n{tail}", file=out)
        return EXIT_FAIL
    if not done.get("kept"):
        holder.wait()
    return int(done.get("exit", EXIT_FAIL))


def relay(stream: IO[bytes], progress: Progress, out: TextIO) -> dict[str, Any] | None:
    """Pass the holder's lines on until it says it is done (returns that) or its pipe closes (None)."""
    for raw in stream:
        try:
            message = json.loads(raw)
        except ValueError:
            continue  # not ours: the holder's own output goes to its log, so this is noise
        if "progress" in message:
            progress(str(message["progress"]))
        elif "line" in message:
            print(message["line"], file=out, flush=True)
        elif "done" in message:
            return dict(message["done"])
    return None


if __name__ == "__main__":
    sys.exit(main())
