"""What a service's start and check functions get: the fleet (one ``Lab`` scope, its images, the
services already running) and each service's ``Running`` record.

Everything is created through the fleet's ``Lab`` scope, so it is recorded (alerts are attributed
by its objects) and removed when the scope unwinds, whatever happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.fleet.images import SERVICE_BASE, ServiceImage
from lab import BuildRecipe, Lab, LabError, Workload, WorkloadSpec

# An upper bound for the services' own loops (clients, schedules): far beyond any soak, so the
# harness always stops them first, but a container somehow left behind does not run forever.
RUN_FOR_S = 6 * 3600


@dataclass(slots=True)
class Running:
    """One started service: its workloads (the first is the one checks exec into) and facts other
    services need from it (its URL, its credentials)."""

    name: str
    workloads: list[Workload]
    facts: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)

    @property
    def main(self) -> Workload:
        return self.workloads[0]

    @property
    def refs(self) -> list[str]:
        refs = []
        for workload in self.workloads:
            refs.append(workload.ref)
            refs.extend(f"container:{cid}" for cid in workload.container_ids if workload.kind != "container")
        return refs


@dataclass(slots=True)
class Periodic:
    """An operator's recurring action on a service (a scheduler firing a job it cannot fire itself)."""

    what: str
    every_s: float
    next_at: float
    action: Callable[[], None]
    last_ok_before_end_s: float = 0.0  # never fire this close to the soak's end (the job must finish)
    owner: str = ""  # the service it belongs to (set by the soak when that service has started)
    fired: int = 0
    errors: list[str] = field(default_factory=list)


class Fleet:
    def __init__(self, lab: Lab, minutes: float) -> None:
        self.lab = lab
        self.minutes = minutes  # planned; the soak may run longer (alongside scenarios)
        self.running: dict[str, Running] = {}
        self.periodic: list[Periodic] = []
        self.held_from: float | None = None  # when every service was up and the watch began
        self.held_until: float | None = None
        self._images: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- images -------------------------------------------------------------------------------
    def base(self) -> str:
        with self._lock:
            if "base" not in self._images:
                self._images["base"] = self.lab.platform_base(SERVICE_BASE)
            return self._images["base"]

    def image(self, image: ServiceImage) -> str:
        """The service image, built FROM the signed service base and signed by the pipeline."""
        return self.built(image.recipe(self.base()))

    def built(self, recipe: BuildRecipe) -> str:
        with self._lock:
            known = self._images.get(recipe.repository)
        if known is None:
            known = self.lab.platform_image(recipe)
            with self._lock:
                self._images[recipe.repository] = known
        return known

    # --- deploying and reading ------------------------------------------------------------------
    def deploy(self, spec: WorkloadSpec, backend: str = "docker") -> Workload:
        """Plain containers unless ``backend`` says "swarm", whatever backend the run's scenarios use."""
        return self.lab.deploy(spec, backend=backend)

    def fact(self, service: str, key: str) -> str:
        try:
            return self.running[service].facts[key]
        except KeyError:
            raise LabError(f"{service} is not running or did not publish {key!r}") from None

    def run(self, workload: Workload, script: str, timeout: float = 30) -> str:
        """Run a shell snippet in the workload (as its image's user) and return its output.

        Raises:
            LabError: it exited non-zero; the message carries its output.
        """
        return self.lab.exec(workload, "sh", "-c", script, timeout=timeout).output

    def every(self, what: str, every_s: float, first_after_s: float, action: Callable[[], None],
              last_ok_before_end_s: float = 0.0) -> None:
        """Schedule ``action`` from the moment the soak starts holding (offsets count from then)."""
        self.periodic.append(Periodic(what=what, every_s=every_s, next_at=first_after_s, action=action,
                                      last_ok_before_end_s=last_ok_before_end_s))

    # --- time -----------------------------------------------------------------------------------
    def held_s(self) -> float:
        """Seconds the fleet has been held under watch (so far, or in all once it ended)."""
        if self.held_from is None:
            return 0.0
        return (self.held_until or time.time()) - self.held_from
