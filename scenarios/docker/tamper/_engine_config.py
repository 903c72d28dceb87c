"""Shared by the engine configuration scenarios: the PRIVATE lab engine's daemon.json, or a skip.
Never a host engine's config: ``Lab.engine_config`` refuses it."""

from __future__ import annotations

from lab import EngineConfig, EngineNotPrivate, Lab, Workload
from scenarios.api import ScenarioSkipped


def private_config(lab: Lab) -> EngineConfig:
    try:
        config = lab.engine_config()
    except EngineNotPrivate as exc:
        raise ScenarioSkipped(str(exc)) from exc
    # Alerts on the file are raised on "file:<path>": report it as one of this scenario's objects.
    lab.track(Workload(id=str(config.path), name=config.path.name, kind="file", backend="docker"))
    return config


def insecure_registries(lab: Lab) -> dict[str, dict]:
    """The registries the engine now trusts over plain HTTP (``docker info``)."""
    index = (lab.engine_info().get("RegistryConfig") or {}).get("IndexConfigs") or {}
    return {name: entry for name, entry in index.items() if not entry.get("Secure", True)}
