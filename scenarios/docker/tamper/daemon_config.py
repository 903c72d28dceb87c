"""The lab engine's daemon.json is changed to trust a plain-HTTP registry and drop logging, then
reloaded, then put back."""

from __future__ import annotations

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.tamper._engine_config import insecure_registries, private_config


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
        config = private_config(lab)
        registry = f"{lab.sinkhole.address}:5000"

        def trusted() -> bool:
            return registry in insecure_registries(lab)

        def weaken(config: dict) -> None:
            config["insecure-registries"] = [*config.get("insecure-registries", []), registry]
            config["log-driver"] = "none"

        lab.action("rewrite the engine's daemon.json and reload it")
        reset = {"insecure-registries": config.read().get("insecure-registries", [])}
        config.edit(weaken, reload=True, reset=reset)
        lab.wait_for(trusted, timeout=10, what=f"the engine to trust {registry}")
        config.restore(reset)
        lab.wait_for(lambda: not trusted(), timeout=10, what=f"the engine to stop trusting {registry}")
        restored = config.read()
        if registry in restored.get("insecure-registries", []) or restored.get("log-driver") == "none":
            raise RuntimeError("daemon.json was not restored")
