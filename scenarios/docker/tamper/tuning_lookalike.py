"""The approved pull-tuning change to daemon.json, with an insecure registry slipped into the same write."""

from __future__ import annotations

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.tamper._engine_config import insecure_registries, private_config


class TuningLookalike(Scenario):
    id = "docker.tamper.tuning-lookalike"
    title = "Approved-looking pull tuning in daemon.json that also trusts a plain-HTTP registry"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1553")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.engine-config-changed",), within_s=15)
    twin = "docker.tamper.approved-engine-tuning"
    forges = ("engine_config/approved_changes/pull-tuning",)
    tags = ("tamper", "defense-evasion", "forged-sanction")
    parallel_safe = False  # the engine is shared by every scenario of the run
    description = (
        "Makes the change the approved deployer makes to the lab's PRIVATE engine's daemon.json (never a host "
        "engine's): `max-concurrent-downloads` to 6, in one atomic rewrite of the file, as the deployer does. "
        "The same write also adds a plain-HTTP registry on the lab internet to `insecure-registries`, and the "
        "engine is told to reload (SIGHUP). The scenario checks through `docker info` that the engine now "
        "trusts the registry, then restores the original file, reloads again and checks it is gone."
    )

    def detonate(self, lab: Lab) -> None:
        config = private_config(lab)
        registry = f"{lab.sinkhole.address}:5000"

        def trusted() -> bool:
            return registry in insecure_registries(lab)

        def tune(config: dict) -> None:
            config["max-concurrent-downloads"] = 6
            config["insecure-registries"] = [*config.get("insecure-registries", []), registry]

        lab.action("rewrite daemon.json with the tuning and the registry, and reload")
        reset = {"insecure-registries": config.read().get("insecure-registries", [])}
        config.edit(tune, reload=True, reset=reset)
        lab.wait_for(trusted, timeout=10, what=f"the engine to trust {registry}")
        config.restore(reset)
        lab.wait_for(lambda: not trusted(), timeout=10, what=f"the engine to stop trusting {registry}")
