"""The engine's configuration file (daemon.json), watched for what changed, not only that it changed.

The FIM sensor knows a hash changed. A defender needs to know *which settings* changed: tuning
download concurrency is routine, turning off logging or trusting a plain-HTTP registry is not. This
sensor keeps the parsed JSON it last saw and reports the top-level keys added, removed or changed,
plus the values of the settings that weaken the engine, so that rules and policy can judge.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event, new_event
from detectors.sensors import inotify as ino
from detectors.sensors.base import ThreadedSensor

MASK = ino.IN_CLOSE_WRITE | ino.IN_MOVED_TO | ino.IN_CREATE | ino.IN_DELETE | ino.IN_MOVED_FROM
# Settings whose new value is copied onto the event for rules and responders.
REPORTED_KEYS = ("log-driver", "log-opts", "insecure-registries", "registry-mirrors", "default-runtime", "runtimes",
                 "iptables", "userns-remap", "no-new-privileges", "live-restore", "authorization-plugins",
                 "selinux-enabled", "icc", "hosts")


def _load(path: str) -> tuple[dict[str, Any] | None, bool]:
    """(parsed config, exists). A file that is not a JSON object parses as None."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None, False
    try:
        data = json.loads(text)
    except ValueError:
        return None, True
    return (data if isinstance(data, dict) else None), True


def changed_keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(k for k in {*before, *after} if before.get(k) != after.get(k))


def config_event(action: str, path: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> Event:
    event = new_event("docker", "docker.engine_config", action)
    event["event.category"] = "configuration"
    event["file.path"] = path
    event["file.name"] = os.path.basename(path)
    event["file.role"] = "engine-config"
    if before is None or after is None:
        event["engine.config.unparseable"] = after is None and action != "deleted"
        event["engine.config.changed_keys"] = sorted({*(before or {}), *(after or {})})
    else:
        event["engine.config.changed_keys"] = changed_keys(before, after)
    for key in REPORTED_KEYS:
        if after is not None and key in after:
            event[f"engine.config.{key}"] = json.dumps(after[key]) if isinstance(after[key], dict | list) \
                else after[key]
    return event


class EngineConfigSensor(ThreadedSensor):
    name: ClassVar[str] = "engine-config"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = os.path.abspath(str(path))
        self._config: dict[str, Any] | None = None
        self._exists = False
        self._watcher: ino.Watcher | None = None

    def open(self) -> None:
        self._config, self._exists = _load(self.path)
        self._watcher = ino.Watcher(self._stats)
        try:
            self._watcher.add(os.path.dirname(self.path), MASK)
        except OSError as exc:
            self._stats.errors += 1
            self.unavailable = f"cannot watch {os.path.dirname(self.path)}: {exc.strerror or exc}"

    def run(self) -> None:
        assert self._watcher is not None
        name = os.path.basename(self.path)
        overflows = self._stats.overflows
        for batch in self._watcher.batches(self._stop):
            # After an overflow the file's change may be among the events lost: look anyway (a
            # rewrite with the same settings reports nothing).
            lost, overflows = self._stats.overflows != overflows, self._stats.overflows
            if lost or any(change.name == name for change in batch):
                with contextlib.suppress(Exception):
                    self._check()

    def _check(self) -> None:
        after, exists = _load(self.path)
        if not exists:
            action = "deleted" if self._exists else ""
        elif not self._exists:
            action = "created"
        else:
            action = "modified"
        if not action or (exists and after is not None and after == self._config):
            self._exists = exists
            return  # rewritten with the same settings: nothing changed that matters
        event = config_event(action, self.path, self._config, after)
        self._config, self._exists = after, exists
        self.send(event)

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
