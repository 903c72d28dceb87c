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
import select
import threading
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event, new_event
from detectors.sensors import inotify as ino
from detectors.sensors.base import Emit

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


class EngineConfigSensor:
    name: ClassVar[str] = "engine-config"

    def __init__(self, path: str | Path) -> None:
        self.path = os.path.abspath(str(path))
        self._config: dict[str, Any] | None = None
        self._exists = False
        self._notify: ino.Inotify | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._emit: Emit | None = None
        self._stats = {"emitted": 0, "dropped": 0, "errors": 0}

    @property
    def stats(self) -> dict[str, int]:
        return dict(self._stats)

    def start(self, emit: Emit) -> None:
        self._emit = emit
        self._config, self._exists = _load(self.path)
        self._notify = ino.Inotify()
        try:
            self._notify.add(os.path.dirname(self.path), MASK)
        except OSError:
            self._stats["errors"] += 1
            return
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        name = os.path.basename(self.path)
        while not self._stop.is_set():
            notify = self._notify
            if notify is None:
                return
            ready, _, _ = select.select([notify.fd], [], [], 0.2)
            if ready and any(n == name for _, _, n in notify.read()):
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
        if self._emit is not None:
            self._emit(event)
            self._stats["emitted"] += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._notify is not None:
            self._notify.close()
            self._notify = None
