"""Variation a scenario declares: the dimensions along which the same technique can be done
differently, and the values each may take.

A scenario lists ``dimensions`` (``Dimension("mechanism", ("driver-none", "driver-local-tiny"), doc=...)``);
the first value of each is the canonical procedure, the one every plain run performs. A *variant*
is one value per dimension; the runner hands it to the scenario as ``self.variant`` before
``detonate``, and the scenario does the technique that way. Sampling is seeded and keyed by the
scenario id, so ``--variants K --seed S`` draws the same variants on every machine, whatever else
is selected.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scenarios.api import Scenario

Value = str | int
Variant = Mapping[str, Value]  # dimension name -> value
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_VALUES = 32


@dataclass(frozen=True, slots=True)
class Dimension:
    """One way the technique can differ. ``values[0]`` is what the canonical scenario does."""

    name: str  # lower_snake_case: "mechanism", "payload_location", "port"
    values: tuple[Value, ...]
    doc: str  # what the dimension changes, for `stowaway explain`

    def problems(self) -> list[str]:
        found = [] if NAME.match(self.name) else [f"name {self.name!r} is not lower_snake_case"]
        if not self.values:
            found.append("values: at least one (the first is the canonical procedure)")
        if len(self.values) > MAX_VALUES:
            found.append(f"values: at most {MAX_VALUES}, not {len(self.values)}")
        if len(set(self.values)) != len(self.values):
            found.append("values: each value once")
        found += [f"values[{i}]: a string or an integer, not {type(v).__name__}"
                  for i, v in enumerate(self.values) if isinstance(v, bool) or not isinstance(v, str | int)]
        if not self.doc.strip():
            found.append("doc: say what the dimension changes")
        return found


def canonical(cls: type[Scenario]) -> dict[str, Value]:
    return {d.name: d.values[0] for d in cls.dimensions}


def space_size(cls: type[Scenario]) -> int:
    """How many distinct variants, the canonical one included."""
    size = 1
    for dimension in cls.dimensions:
        size *= len(dimension.values)
    return size


def every_variant(cls: type[Scenario]) -> Iterator[dict[str, Value]]:
    names = [d.name for d in cls.dimensions]
    for values in itertools.product(*(d.values for d in cls.dimensions)):
        yield dict(zip(names, values, strict=True))


def sample(cls: type[Scenario], count: int | None, seed: int) -> list[dict[str, Value]]:
    """``count`` distinct non-canonical variants (all of them when None or more than there are),
    drawn reproducibly from ``seed`` and the scenario id."""
    others = [v for v in every_variant(cls) if v != canonical(cls)]
    if count is None or count >= len(others):
        return others
    rng = random.Random(f"{seed}:{cls.id}")
    return rng.sample(others, count)


def label(variant: Variant, cls: type[Scenario]) -> str:
    """The values that differ from the canonical procedure, ``mechanism=local-tiny,port=53``."""
    base = canonical(cls)
    return ",".join(f"{k}={v}" for k, v in variant.items() if base.get(k) != v) or "canonical"


def variant_id(cls: type[Scenario], variant: Variant) -> str:
    """The row id of a variant in a scorecard: the scenario id, ``@``, its label."""
    return f"{cls.id}@{label(variant, cls)}"


def describe(cls: type[Scenario]) -> list[dict[str, Any]]:
    return [{"name": d.name, "values": list(d.values), "canonical": d.values[0], "doc": d.doc}
            for d in cls.dimensions]
