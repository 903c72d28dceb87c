"""Policy files as declared schemas: typed dataclasses, loaded strictly.

A policy kind's file body, and every entry in it, is a dataclass. ``load`` reads a YAML mapping into
one by its fields' types (``str``, ``bool``, ``int``, ``float``, ``tuple[X, ...]``,
``dict[str, X]``, ``X | None``, another schema dataclass), and every error names the file and the
field path (``sanctioned_proxies[0].match.networks[1]``). What a type cannot say is declared beside
it, so the hand-written checks go:

- ``setting(...)``: the field's description (``docs/policy.md`` is generated from it), its YAML key
  when that differs from the attribute, a ``check`` of the whole value and an ``each`` check of every
  item (each returns why a value is wrong, or None), and a ``parse`` that turns a string into what
  the detectors use (an address range, a directory next to the policy file).
- ``REFUSED`` (a class attribute): keys refused with the reason, such as a match on names an
  adversary chooses, so that a policy cannot drift back to them.
- ``validate(path, where)``: rules across fields (an empty match, a budget that names nothing).

Fields declared ``init=False`` (a bound platform, caches) are not part of the file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Check = Callable[[Any], str | None]
Parse = Callable[[str, Path], Any]  # (text, the policy file) -> value; ValueError says why not


class PolicyError(ValueError):
    def __init__(self, path: Path | str, field_name: str, message: str) -> None:
        super().__init__(f"{path}: {field_name}: {message}")
        self.path = str(path)
        self.field = field_name


def setting(default: Any = MISSING, *, doc: str = "", key: str | None = None, check: Check | None = None,
            each: Check | None = None, parse: Parse | None = None, required: bool = False) -> Any:
    """A field of a policy schema. Without a default it is required; ``required`` also demands it of
    a file when the attribute has a default (a kind's settings, which start empty). A dict default
    is copied per instance."""
    metadata = {"doc": doc, "key": key, "check": check, "each": each, "parse": parse, "required": required}
    if isinstance(default, dict):
        frozen = dict(default)
        return dataclasses.field(default_factory=lambda: dict(frozen), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True, slots=True)
class Setting:
    """One field of a schema as the file sees it."""

    name: str  # the attribute
    key: str  # the YAML key
    hint: Any
    required: bool
    default: Any
    doc: str
    check: Check | None
    each: Check | None
    parse: Parse | None


_HINTS: dict[type, dict[str, Any]] = {}


def settings(cls: type) -> Iterator[Setting]:
    """The fields of ``cls`` a policy file may give, in declaration order."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        meta: Mapping[str, Any] = f.metadata
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else MISSING)
        required = default is MISSING or bool(meta.get("required"))
        yield Setting(name=f.name, key=meta.get("key") or f.name, hint=hints[f.name], required=required,
                      default=default, doc=meta.get("doc", ""), check=meta.get("check"), each=meta.get("each"),
                      parse=meta.get("parse"))


def load(cls: type[T], data: Any, path: Path, where: str = "", ignore: tuple[str, ...] = ()) -> T:
    """``data`` read into ``cls``. ``where`` is the field path so far (``declared[0].``); keys in
    ``ignore`` (a file's ``kind``) are neither read nor refused."""
    mapping = expect(data, dict, path, where.rstrip(".") or "(document)")
    fields = list(settings(cls))
    refused: Mapping[str, str] = getattr(cls, "REFUSED", {})
    for key in mapping:
        if key in refused:
            raise PolicyError(path, f"{where}{key}", refused[key])
    allowed = {f.key for f in fields}
    for key in mapping:
        if key not in allowed and key not in ignore:
            raise PolicyError(path, f"{where}{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
    for f in fields:
        if f.required and f.key not in mapping:
            raise PolicyError(path, f"{where}{f.key}", "missing")
    values = {f.name: _field(f, mapping[f.key], path, f"{where}{f.key}") for f in fields if f.key in mapping}
    value = cls(**values)
    validate = getattr(value, "validate", None)
    if validate is not None:
        validate(path, where)
    return value


def given(cls: type, data: Mapping[str, Any]) -> list[Setting]:
    """The settings of ``cls`` that ``data`` (a file's body) gives."""
    return [f for f in settings(cls) if f.key in data]


def _field(f: Setting, raw: Any, path: Path, name: str) -> Any:
    value = _typed(f.hint, raw, path, name, f.parse)
    if f.each is not None:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for index, item in items:
            reason = f.each(item)
            if reason is not None:
                raise PolicyError(path, f"{name}[{index}]" if isinstance(index, int) else f"{name}.{index}", reason)
    if f.check is not None:
        reason = f.check(value)
        if reason is not None:
            raise PolicyError(path, name, reason)
    return value


def _typed(hint: Any, raw: Any, path: Path, name: str, parse: Parse | None = None) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    optional = origin in (types.UnionType, typing.Union) and type(None) in args
    if optional and raw is None:
        return None
    if parse is not None and origin not in (tuple, dict):
        try:  # the file gives a string; the field holds what ``parse`` makes of it
            return parse(expect(raw, str, path, name), path)
        except ValueError as exc:
            raise PolicyError(path, name, str(exc)) from exc
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"{name}: a schema field may be one type or None, not {hint}")
        return _typed(inner[0], raw, path, name, parse)
    if origin is tuple:
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"{name}: a schema tuple is tuple[X, ...], not {hint}")
        items = expect(raw, list, path, name)
        return tuple(_typed(args[0], item, path, f"{name}[{i}]", parse) for i, item in enumerate(items))
    if origin is dict:
        mapping = expect(raw, dict, path, name)
        return {str(k): _typed(args[1], v, path, f"{name}.{k}", parse) for k, v in mapping.items()}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return load(hint, raw, path, f"{name}.")
    if hint is bool:
        return expect(raw, bool, path, name)
    if hint is int:
        if isinstance(raw, bool):
            raise PolicyError(path, name, f"expected int, got {raw!r}")
        return expect(raw, int, path, name)
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise PolicyError(path, name, f"expected a number, got {raw!r}")
        return float(raw)
    if hint is str:
        return expect(raw, str, path, name)
    raise TypeError(f"{name}: no schema reader for {hint!r}")


def expect(value: Any, kind: type | tuple[type, ...], path: Path | str, name: str) -> Any:
    if not isinstance(value, kind):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise PolicyError(path, name, f"expected {want}, got {type(value).__name__}")
    return value


# --- checks the schemas share ---------------------------------------------------------------------
def positive(value: Any) -> str | None:
    """A number above zero (an unset optional one passes)."""
    return None if value is None or value > 0 else f"expected a positive number, got {value!r}"


def one_of(known: tuple[str, ...], what: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in known else f"unknown {what} {value!r} (known: {', '.join(known)})"
    return check


def nonempty(reason: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value else reason
    return check


def directory_beside(text: str, policy_file: Path) -> Path:
    """A directory named relative to the policy file that names it."""
    directory = (policy_file.parent / text).resolve()
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory")
    return directory


# --- the reference, for people ----------------------------------------------------------------------
def type_text(hint: Any, parsed: bool = False) -> str:
    """How a file gives a value of ``hint`` (``parsed``: its leaves are strings a ``parse`` reads)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return f"list of {type_text(args[0], parsed)}"
    if origin is dict:
        return f"map of {type_text(args[1], parsed)}"
    if origin in (types.UnionType, typing.Union):
        return " or ".join(type_text(a, parsed) for a in args if a is not type(None)) + " (or null)"
    if parsed:
        return "str"
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return f"`{hint.__name__}`"
    return {bool: "bool", int: "int", float: "number", str: "str"}.get(hint, getattr(hint, "__name__", str(hint)))


def nested(cls: type) -> Iterator[type]:
    """The schema classes ``cls`` reads, depth first, each once."""
    seen: set[type] = set()

    def walk(hint: Any) -> Iterator[type]:
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            if hint not in seen:
                seen.add(hint)
                for f in settings(hint):
                    yield from walk(f.hint)
                yield hint
            return
        for arg in typing.get_args(hint):
            yield from walk(arg)

    for f in settings(cls):
        yield from walk(f.hint)


@dataclass(frozen=True, slots=True)
class Entry:
    """What every entry of a policy list has: alerts and reviews point at it by name."""

    name: str = setting(doc="unique within its kind and list; alerts name the entry that made an event benign")
    owner: str = setting(doc="the team that answers for the entry")
    description: str = setting(doc="why the entry exists, for the reviewer")
