"""Parse the ``|modifier`` chain of a detection key and check that it makes sense.

Only what the local engine really evaluates is accepted: a modifier pySigma knows but we do not
implement (``base64``, ``windash``, ...) is refused by name rather than silently ignored, because a
rule that quietly matches nothing is worse than a rule that fails to load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The modifier that decides how a value is compared; at most one per key.
OPERATORS = frozenset(
    {"contains", "startswith", "endswith", "re", "cidr", "exists", "gt", "gte", "lt", "lte", "fieldref"}
)
_REGEX_FLAGS = {
    "i": re.IGNORECASE,
    "ignorecase": re.IGNORECASE,
    "m": re.MULTILINE,
    "multiline": re.MULTILINE,
    "s": re.DOTALL,
    "dotall": re.DOTALL,
}
_FLAGS = frozenset({"all", "cased", "expand"})
# Known to Sigma (pySigma accepts them) but not evaluated here: named so the error says "unsupported".
_UNSUPPORTED = frozenset(
    {
        "base64",
        "base64offset",
        "utf16",
        "utf16le",
        "utf16be",
        "wide",
        "windash",
        "neq",
        "minute",
        "hour",
        "day",
        "week",
        "month",
        "year",
    }
)
_STRING_OPERATORS = frozenset({None, "contains", "startswith", "endswith"})


@dataclass(frozen=True, slots=True)
class Modifiers:
    operator: str | None  # None means plain equality (with wildcards for strings)
    all: bool = False
    cased: bool = False
    expand: bool = False
    regex_flags: int = 0

    @property
    def is_plain(self) -> bool:
        """Plain equality on literals, the only form the rule index may rely on."""
        return self.operator is None and not self.expand


def parse_modifiers(names: list[str]) -> Modifiers:
    """Turn ``["contains", "all"]`` into Modifiers. Raises ValueError with a readable reason."""
    seen: set[str] = set()
    operator: str | None = None
    regex_flags = 0
    for name in names:
        if name in seen:
            raise ValueError(f"modifier '{name}' is given twice")
        seen.add(name)
        if name in OPERATORS:
            if operator is not None:
                raise ValueError(f"modifiers '{operator}' and '{name}' cannot be combined")
            operator = name
        elif name in _REGEX_FLAGS:
            if operator != "re":
                raise ValueError(f"modifier '{name}' is a regex flag and must follow 're'")
            regex_flags |= _REGEX_FLAGS[name]
        elif name in _FLAGS:
            pass
        elif name in _UNSUPPORTED:
            raise ValueError(f"modifier '{name}' is not supported by the local Sigma engine")
        else:
            raise ValueError(f"unknown modifier '{name}'")
    modifiers = Modifiers(
        operator=operator,
        all="all" in seen,
        cased="cased" in seen,
        expand="expand" in seen,
        regex_flags=regex_flags,
    )
    if modifiers.cased and operator not in _STRING_OPERATORS:
        raise ValueError(f"modifier 'cased' cannot be combined with '{operator}'")
    if modifiers.expand and operator not in _STRING_OPERATORS:
        raise ValueError(f"modifier 'expand' cannot be combined with '{operator}'")
    if modifiers.all and operator == "exists":
        raise ValueError("modifier 'all' cannot be combined with 'exists'")
    return modifiers
