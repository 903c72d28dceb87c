"""Shared by the engine configuration scenarios: change the PRIVATE lab engine's daemon.json, have
the engine reload it, and put it back. Never a host engine: without a private engine, skip."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab import Lab, LabError, Workload
from lab.engine import write_canonical_config
from scenarios.api import ScenarioSkipped


def private_config(lab: Lab) -> Path:
    path = lab.engine.config_file
    if not lab.engine.private or path is None or not path.exists():
        raise ScenarioSkipped("needs the lab's private engine: its daemon.json is the only one the lab may change")
    # Alerts on the file are raised on "file:<path>": report it as one of this scenario's objects.
    lab.track(Workload(id=str(path), name=path.name, kind="file", backend="docker"))
    return path


def reload_engine(lab: Lab) -> None:
    """SIGHUP: dockerd re-reads daemon.json and applies the settings it can change live."""
    pid = int(lab.engine.paths.engine_pidfile.read_text().strip())
    os.kill(pid, signal.SIGHUP)


def rewrite(path: Path, config: dict[str, Any]) -> None:
    tmp = path.with_suffix(".edit")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    os.replace(tmp, path)


def restore_config(lab: Lab, path: Path, original: str, reset: dict[str, Any] | None = None) -> None:
    """Put the original file back. A reload only applies the keys present in the file, so a live
    setting the original does not mention (insecure-registries) is first reloaded from ``reset``."""
    if reset:
        rewrite(path, {**json.loads(original), **reset})
        reload_engine(lab)
        time.sleep(1)  # the reload is asynchronous; the file must not change under it
    # The lab's canonical config, not the text read at the start: with runs sharing the engine,
    # that text may hold another run's change, which must not be written back.
    write_canonical_config(lab.engine.paths)


def change_and_restore(lab: Lab, path: Path, change: Callable[[dict[str, Any]], None], reload: bool,
                       reset: dict[str, Any] | None = None) -> str:
    """Apply ``change`` to the config and register its undo. Returns the original text."""
    original = path.read_text()

    def restore() -> None:
        restore_config(lab, path, original, reset if reload else None)
    lab.cleanup(f"restore {path}", restore)
    config = json.loads(original)
    change(config)
    rewrite(path, config)
    if reload:
        reload_engine(lab)
    return original


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
