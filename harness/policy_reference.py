"""``docs/policy.md``'s reference: every policy kind's file format, rendered from its schema.

The schemas (``detectors/policy_kinds/``, ``detectors.schema``) are what the loader enforces, so a
reference generated from them cannot promise a field the loader refuses, or miss one it reads.
"""

from __future__ import annotations

import inspect
from collections import Counter
from typing import Any

from detectors import schema
from detectors.policies import policy_kinds
from detectors.policy_kinds import SHIPPED
from detectors.schema import Entry

_ENTRY_KEYS = tuple(s.key for s in schema.settings(Entry))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")


def _default(setting: schema.Setting) -> str:
    if setting.required:
        return "**required**"
    value: Any = setting.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple) and value:
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    if isinstance(value, int | float) or (isinstance(value, str) and value):
        return f"`{value}`"
    return ""


def _table(cls: type) -> list[str]:
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    settings = list(schema.settings(cls))
    if issubclass(cls, Entry):
        lines.append(f"| {', '.join(f'`{k}`' for k in _ENTRY_KEYS)} | str | **required** | every entry's "
                     "(see `Entry`) |")
        settings = [s for s in settings if s.key not in _ENTRY_KEYS]
    for setting in settings:
        lines.append(f"| `{setting.key}` | {schema.type_text(setting.hint, setting.parse is not None)} | "
                     f"{_default(setting)} | {_cell(setting.doc)} |")
    lines += [f"| ~~`{key}`~~ | refused | | {_cell(why)} |" for key, why in getattr(cls, "REFUSED", {}).items()]
    return lines


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    if obj is not None and doc.startswith(f"{getattr(obj, '__name__', '')}("):
        return ""  # the signature dataclass writes when a class has no docstring
    return _cell(doc.split("\n\n", 1)[0])


def _type_section(cls: type) -> list[str]:
    summary = _summary(cls)
    return [f"`{cls.__name__}`" + (f": {summary}" if summary else ""), "", *_table(cls), ""]


def reference() -> str:
    """One section per shipped kind (what it is for, its fields, the entry types only it reads), then
    the entry types several kinds share."""
    names = {cls: name for name, cls in policy_kinds().items()
             if cls.__module__.startswith("detectors.policy_kinds.")}
    kinds = sorted(names, key=lambda cls: SHIPPED.index(cls.__module__.rsplit(".", 1)[-1]))
    used = {cls: list(schema.nested(getattr(cls, "file_schema", cls))) for cls in kinds}
    shared = {t for t, n in Counter(t for types in used.values() for t in types).items() if n > 1}
    lines: list[str] = []
    for cls in kinds:
        lines += [f"## `kind: {names[cls]}`", "", f"{_summary(inspect.getmodule(cls))} "
                  f"(`{cls.__module__.replace('.', '/')}.py`)", "", *_table(getattr(cls, "file_schema", cls)), ""]
        for entry in used[cls]:
            if entry not in shared:
                lines += _type_section(entry)
    lines += ["## Shared types", ""]
    for entry in [Entry, *sorted(shared, key=lambda t: t.__name__)]:
        lines += _type_section(entry)
    return "\n".join(lines).rstrip() + "\n"
