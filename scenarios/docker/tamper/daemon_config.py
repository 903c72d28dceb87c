"""The lab engine's daemon.json is changed to trust a plain-HTTP registry and drop logging, then
reloaded, then put back."""

from __future__ import annotations

import json

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.tamper._engine_config import change_and_restore, private_config, restore_config, wait_until


class DaemonConfig(Scenario):
    id = "docker.tamper.daemon-config"
    title = "Engine daemon.json changed: insecure registry trusted, default log driver none"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1553")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.engine-config-changed",), within_s=15)
    twin = "docker.tamper.approved-engine-tuning"
    tags = ("tamper", "defense-evasion")
    parallel_safe = False  # the engine is shared by every scenario of the run
    description = (
        "Edits the lab's PRIVATE engine's daemon.json (never a host engine's): adds a plain-HTTP "
        "registry on the lab internet to `insecure-registries` and sets the default `log-driver` to "
        "`none`, then sends the engine SIGHUP so it reloads. The scenario checks through `docker "
        "info` that the engine now trusts the registry, then restores the original file, reloads "
        "again and checks the registry is gone."
    )

    def detonate(self, lab: Lab) -> None:
        path = private_config(lab)
        registry = f"{lab.sinkhole.address}:5000"

        def trusted() -> bool:
            index = (lab.engine.client.info().get("RegistryConfig") or {}).get("IndexConfigs") or {}
            return registry in index and not index[registry].get("Secure", True)

        def weaken(config: dict) -> None:
            config["insecure-registries"] = [*config.get("insecure-registries", []), registry]
            config["log-driver"] = "none"

        lab.action("rewrite the engine's daemon.json and reload it")
        reset = {"insecure-registries": json.loads(path.read_text()).get("insecure-registries", [])}
        original = change_and_restore(lab, path, weaken, reload=True, reset=reset)
        wait_until(trusted, timeout=10, what=f"the engine to trust {registry}")
        restore_config(lab, path, original, reset)
        wait_until(lambda: not trusted(), timeout=10, what=f"the engine to stop trusting {registry}")
        restored = json.loads(path.read_text())
        if registry in restored.get("insecure-registries", []) or restored.get("log-driver") == "none":
            raise RuntimeError("daemon.json was not restored")
