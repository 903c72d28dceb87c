"""The approved deployer raises the engine's download concurrency in daemon.json, then puts it back."""

from __future__ import annotations

import time

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker.tamper._engine_config import private_config


class ApprovedEngineTuning(Scenario):
    id = "docker.tamper.approved-engine-tuning"
    title = "Approved change to the engine's pull concurrency in daemon.json"
    kind = Kind.BENIGN
    techniques = ("T1562.001",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.docker.engine-config-changed",), window_s=8)
    twin = "docker.tamper.daemon-config"
    tags = ("tamper",)
    parallel_safe = False  # the engine is shared by every scenario of the run
    description = (
        "Edits the lab's PRIVATE engine's daemon.json the way the approved deployer tunes a busy "
        "node: sets `max-concurrent-downloads` to 6 (a setting the engine policy lets the deployer "
        "own), checks the file holds it, then restores the original file. The engine configuration "
        "rule must stay silent."
    )

    def detonate(self, lab: Lab) -> None:
        config = private_config(lab)
        lab.action("raise max-concurrent-downloads in daemon.json")
        config.edit(lambda c: c.update({"max-concurrent-downloads": 6}), reload=False)
        if config.read().get("max-concurrent-downloads") != 6:
            raise RuntimeError("daemon.json does not hold the new setting")
        time.sleep(1)  # let the change settle on disk and in the sensors before the next one
        config.restore()
