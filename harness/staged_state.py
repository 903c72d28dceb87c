"""The state record of a kept detonation: ``<lab runtime>/staged/<scenario id>.json``.

One record per scenario (a variant is recorded inside it), so one scenario has at most one kept
detonation at a time. The record names the run whose lab is kept and the process that holds it
(harness/staged_holder.py), and lists what the run made. ``stowaway detonate`` creates it
exclusively (two detonations of one id cannot both claim it), the holder rewrites it atomically as
its state changes, and ``stowaway revert`` removes it only once nothing of the run is left, so an
interrupted revert finds it again.

It lives under the runtime directory on purpose: a reboot empties it together with the holder and
the engine's runtime, and the reaper then removes what the dead run left, like any dead run's.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from lab import LabPaths
from lab import engine as engine_mod

# detonating: the holder is bringing the lab up or detonating; kept: the objects are left on purpose;
# releasing: the holder is reverting; released: the holder reverted and tore down (``problems`` says
# what failed), and only ``stowaway revert`` reading the record is left to do.
STATUSES = ("detonating", "kept", "releasing", "released")
HOLDER_MODULE = "harness.staged_holder"  # ``python -m`` it: the holder's command line names it


class StateError(Exception):
    """A state record that cannot be created or read; the message names the file."""


def staged_dir(paths: LabPaths) -> Path:
    return paths.runtime / "staged"


def record_path(paths: LabPaths, scenario_id: str) -> Path:
    return staged_dir(paths) / f"{scenario_id}.json"


def holder_log(paths: LabPaths, scenario_id: str) -> Path:
    return paths.state / "log" / f"staged-{scenario_id}.log"


def is_holder(pid: int) -> bool:
    """A live process whose command line is a holder's (``-m harness.staged_holder``) or a detonate
    command's (``stowaway detonate``, which holds the claim until the holder takes it over)."""
    if pid <= 1 or not engine_mod._pid_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return HOLDER_MODULE.encode() in argv or b"detonate" in argv


@dataclass(slots=True)
class KeptDetonation:
    scenario_id: str  # the registry id; the record's file name
    detonation_id: str  # what was asked for: the scenario id, or a variant id (``id@driver=syslog``)
    variant: dict[str, Any]  # the value of each dimension it did
    backend: str  # docker or swarm
    docker_host: str | None  # None: the lab's private engine
    holder_pid: int  # the process holding the run's lab (before it starts: the detonate command)
    status: str = "detonating"  # one of STATUSES
    run_id: str | None = None  # known once the holder has made its session
    engine: str = ""  # the engine's URL, once up
    started_at: float = field(default_factory=time.time)
    kept_at: float | None = None
    verdict: str | None = None  # the detonation's verdict, as judged when it was kept
    objects: list[str] = field(default_factory=list)  # the scenario's objects (Outcome.objects refs)
    cleanups: list[str] = field(default_factory=list)  # its pending undo steps, last one first
    problems: list[str] = field(default_factory=list)  # what the holder's release could not undo

    @property
    def holder_alive(self) -> bool:
        """Whether ``holder_pid`` is still our holder (or, while claiming, the detonate command). A pid
        the kernel gave to another process since is not: revert signals this pid, and must never signal
        anything else (PID 1 least of all)."""
        return is_holder(self.holder_pid)

    def save(self, paths: LabPaths) -> None:
        """Replace the record atomically: a reader never sees half of one."""
        path = record_path(paths, self.scenario_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, path)

    def claim(self, paths: LabPaths) -> None:
        """Create the record, failing if one exists (another detonation of this scenario claimed it).

        Raises:
            StateError: a record is already there.
        """
        path = record_path(paths, self.scenario_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise StateError(f"{path} exists: another detonation of {self.scenario_id} holds it") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(asdict(self), indent=2) + "\n")

    def remove(self, paths: LabPaths) -> None:
        record_path(paths, self.scenario_id).unlink(missing_ok=True)


def read(paths: LabPaths, scenario_id: str) -> KeptDetonation | None:
    """The record of ``scenario_id``; None when there is none.

    Raises:
        StateError: the file is there but is not a record (named, so a person can look at it).
    """
    path = record_path(paths, scenario_id)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: cannot be read: {exc}") from None
    return _parse(path, text)


def _parse(path: Path, text: str) -> KeptDetonation:
    try:
        data = json.loads(text)
        known = {f.name for f in fields(KeptDetonation)}
        record = KeptDetonation(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError, AttributeError) as exc:
        raise StateError(f"{path}: not a detonation state record ({type(exc).__name__}: {exc})") from None
    if record.status not in STATUSES:
        raise StateError(f"{path}: field status: {record.status!r} is not one of {', '.join(STATUSES)}")
    return record


def every(paths: LabPaths) -> list[KeptDetonation]:
    """Every readable record, oldest first (an unreadable one is skipped here; ``read`` names it)."""
    found = []
    directory = staged_dir(paths)
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        with contextlib.suppress(OSError, StateError):
            found.append(_parse(path, path.read_text()))
    return sorted(found, key=lambda r: r.started_at)


def by_run(paths: LabPaths) -> dict[str, KeptDetonation]:
    """The records that name a run, by run id (``lab status`` tags that run's objects with them)."""
    return {r.run_id: r for r in every(paths) if r.run_id}
