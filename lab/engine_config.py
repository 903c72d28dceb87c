"""The private engine's daemon.json as a scenario may change it: edit, reload, and always put back.

Only the lab's own dockerd: its config file and process are the lab's. A host engine's config is
never touched (``EngineNotPrivate``). Several runs may share the private engine, so the file is put
back to the lab's canonical config, not to the text read at the start (which may hold another run's
change).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.engine import Engine, write_canonical_config
from lab.errors import LabError

Edit = Callable[[dict[str, Any]], None]


class EngineNotPrivate(LabError):
    """The run's engine is not the lab's own dockerd: its config is not the lab's to change."""


class EngineConfig:
    """daemon.json of the lab's private engine."""

    def __init__(self, engine: Engine, register_cleanup: Callable[[str, Callable[[], None]], None]) -> None:
        path = engine.config_file
        if not engine.private or path is None or not path.exists():
            raise EngineNotPrivate("needs the lab's private engine: its daemon.json is the only one the lab may change")
        self.path: Path = path
        self._engine = engine
        self._cleanup = register_cleanup
        self._original: dict[str, Any] = {}  # the file as the last edit found it

    def read(self) -> dict[str, Any]:
        data = json.loads(self.path.read_text())
        if not isinstance(data, dict):
            raise LabError(f"{self.path}: not a JSON object")
        return data

    def reload(self) -> None:
        """SIGHUP: dockerd re-reads daemon.json and applies the settings it can change live."""
        pid = int(self._engine.paths.engine_pidfile.read_text().strip())
        os.kill(pid, signal.SIGHUP)

    def _write(self, config: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".edit")
        tmp.write_text(json.dumps(config, indent=2) + "\n")
        os.replace(tmp, self.path)

    def edit(self, change: Edit, reload: bool, reset: dict[str, Any] | None = None) -> None:
        """Apply ``change`` to the file (and reload when asked); the undo is registered first.

        ``reset``: live settings the canonical file does not mention (a reload only applies the keys
        present), reloaded with these values before the canonical file goes back.
        """
        self._cleanup(f"restore {self.path}", lambda: self.restore(reset if reload else None))
        config = self.read()
        self._original = dict(config)
        change(config)
        self._write(config)
        if reload:
            self.reload()

    def restore(self, reset: dict[str, Any] | None = None) -> None:
        if reset:
            self._write({**self._original, **reset})
            self.reload()
            time.sleep(1)  # the reload is asynchronous; the file must not change under it
        write_canonical_config(self._engine.paths)
