"""The registry of the services: what each is, what it needs up first, how it starts and how its
check proves it did its job. Pure data and ordering: nothing here talks to an engine.

A tier module (``harness/fleet/services/*.py``) describes its services with ``Service`` and adds
them to ``SERVICES``; the registry refuses a duplicate name, and ``ordered()`` gives a start order
in which every service comes after what it needs (refusing an unknown need or a cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.fleet.context import Fleet, Running


class RegistryError(ValueError):
    """A service list that cannot be started: a duplicate name, an unknown need, or a cycle."""


class CheckFailed(Exception):
    """A service did not do its job; the message says what was missing, with the figures."""


StartFn = Callable[["Fleet"], "Running"]
CheckFn = Callable[["Fleet", "Running"], list[str]]
SettleFn = Callable[["Fleet", "Running"], bool]


@dataclass(frozen=True, slots=True)
class Service:
    name: str  # neutral, realistic ("api", "order-reports"): the name in the scorecard
    does: str  # one line: what it really does, the way it does it in the wild
    start: StartFn  # deploys it through the fleet's Lab scope; returns what it made
    check: CheckFn  # evidence lines that it did its job; raises CheckFailed when it did not
    needs: tuple[str, ...] = ()  # services that must be up (healthy) before it starts
    settle: SettleFn | None = None  # True once work in flight is done; the soak waits for it before checks
    tags: tuple[str, ...] = ()  # "swarm", "ci", ...: for selection in tests


class Registry:
    def __init__(self, services: Iterable[Service] = ()) -> None:
        self._services: dict[str, Service] = {}
        for service in services:
            self.add(service)

    def add(self, service: Service) -> Service:
        if service.name in self._services:
            raise RegistryError(f"two services are called {service.name!r}")
        self._services[service.name] = service
        return service

    def __len__(self) -> int:
        return len(self._services)

    def __contains__(self, name: object) -> bool:
        return name in self._services

    def get(self, name: str) -> Service:
        try:
            return self._services[name]
        except KeyError:
            raise KeyError(f"no service {name!r}; known: {', '.join(sorted(self._services))}") from None

    def names(self) -> list[str]:
        return list(self._services)

    def ordered(self) -> list[Service]:
        """Every service after the services it needs; otherwise in the order they were added."""
        for service in self._services.values():
            unknown = [n for n in service.needs if n not in self._services]
            if unknown:
                raise RegistryError(f"{service.name} needs {', '.join(unknown)}, which no service provides")
        placed: dict[str, Service] = {}
        visiting: list[str] = []

        def place(service: Service) -> None:
            if service.name in placed:
                return
            if service.name in visiting:
                cycle = [*visiting[visiting.index(service.name):], service.name]
                raise RegistryError(f"services need each other in a cycle: {' -> '.join(cycle)}")
            visiting.append(service.name)
            for need in service.needs:
                place(self._services[need])
            visiting.pop()
            placed[service.name] = service

        for service in self._services.values():
            place(service)
        return list(placed.values())

    def select(self, names: Iterable[str]) -> Registry:
        """The named services plus everything they need, as a registry of their own."""
        wanted: dict[str, Service] = {}

        def take(name: str) -> None:
            if name in wanted:
                return
            service = self.get(name)
            wanted[name] = service
            for need in service.needs:
                take(need)

        for name in names:
            take(name)
        return Registry(s for s in self._services.values() if s.name in wanted)
