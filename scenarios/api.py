"""The scenario API: one scenario is one small module with declarative metadata plus
``detonate`` and ``revert``.

Scenarios import ``lab`` and nothing else of ours.  The runner owns the lifecycle: it calls
``detonate(lab)`` inside a lab scope whose cleanup stack undoes whatever the scenario created (last
in, first out), and then ``revert(lab)`` for anything a scenario changed that is not an object the
lab tracks (a file it edited, a setting it flipped).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

from scenarios.variants import Dimension, canonical

if TYPE_CHECKING:
    from lab import Lab


class Kind(enum.StrEnum):
    ADVERSARY = "adversary"
    BENIGN = "benign"


class ScenarioSkipped(Exception):
    """Raised by a scenario that cannot run here. Skipped is not failed: the reason is reported."""


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the harness checks.

    For an adversary scenario, every rule in ``fires`` must raise an alert on the scenario's objects
    within ``within_s`` seconds of its recorded action.  For a benign scenario, no rule in ``silent``
    may raise an alert on its objects during ``window_s`` seconds after the action.

    Every other alert on an adversary's objects is judged too. A rule outside ``fires`` that alerts
    there is collateral: allowed when ``may_fire`` names it with a reason (one sentence saying why
    the rule is right to fire on what this adversary really does), otherwise a false positive of
    that rule, which fails the run. Benign scenarios have no ``may_fire``: any alert on them is a
    false positive.
    """

    fires: tuple[str, ...] = ()
    silent: tuple[str, ...] = ()
    within_s: float = 20.0
    window_s: float = 8.0
    may_fire: Mapping[str, str] = field(default_factory=dict)  # rule id -> why it rightly fires here too

    def __post_init__(self) -> None:
        # Read-only, so a scenario class attribute cannot be changed by whoever reads it. A value
        # that is not a mapping is left as it is for the registry to refuse, naming file and field.
        if isinstance(self.may_fire, Mapping):
            object.__setattr__(self, "may_fire", MappingProxyType(dict(self.may_fire)))


class Scenario:
    """Base class. Subclasses set the class attributes and implement ``detonate``."""

    id: ClassVar[str]  # dotted path of the module under scenarios/: "docker.logging.log-driver-none"
    title: ClassVar[str]  # one line for scorecards
    kind: ClassVar[Kind]  # adversary or benign twin
    techniques: ClassVar[tuple[str, ...]]  # ATT&CK ids in the pinned version (scenarios/attack.yaml)
    backends: ClassVar[tuple[str, ...]] = ("docker",)  # lab backends it can run on
    expect: ClassVar[Expectation]  # what should fire, or stay silent
    description: ClassVar[str]  # what it really does, in plain words, for `stowaway explain`
    tags: ClassVar[tuple[str, ...]] = ()  # free-form selectors for `stowaway run --tag`
    twin: ClassVar[str | None] = None  # id of the benign twin (or of the adversary it shadows)
    # Policy sanctions this adversary forges: it copies what the sanctioned twin shows (names, labels,
    # network names, image references) without the provenance the sanction binds to, and must still
    # be detected. Each entry is "<policy kind>/<list>/<entry name>" of a sanction in detectors/policy.
    forges: ClassVar[tuple[str, ...]] = ()
    parallel_safe: ClassVar[bool] = True  # False: touches shared state, run it alone
    # True: it saturates CPU and is judged on what it uses. At most one such scenario (or variant)
    # runs at a time beside the others: six grinders sharing a small host measure contention, not
    # the technique.
    cpu_bound: ClassVar[bool] = False
    # ISO 8601 moment the detectors' calendar is set to while this scenario runs (seasonal
    # baselines judge "usual for this weekday and hour"). Such a scenario must set parallel_safe = False.
    simulated_time: ClassVar[str | None] = None
    # The ways the same technique can be done differently (scenarios.variants). The first value of
    # each dimension is what the canonical scenario does; a variant run sets ``self.variant``.
    dimensions: ClassVar[tuple[Dimension, ...]] = ()

    @property
    def variant(self) -> Mapping[str, str | int]:
        """The value of each dimension this run does (the canonical ones unless the runner chose)."""
        chosen = getattr(self, "_variant", None)
        return chosen if chosen is not None else canonical(type(self))

    @variant.setter
    def variant(self, value: Mapping[str, str | int]) -> None:
        self._variant = MappingProxyType(dict(value))

    def detonate(self, lab: Lab) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def revert(self, lab: Lab) -> None:
        """Undo what the lab's cleanup stack cannot. Most scenarios need nothing here."""


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    """A registered scenario: its class plus where it came from (for error messages)."""

    cls: type[Scenario]
    source: str
    extra: dict[str, str] = field(default_factory=dict)
