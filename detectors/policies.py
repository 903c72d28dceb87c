"""Policy files: the context a platform team maintains, turned into ``policy.*`` fields on events.

Rules stay pure Sigma: instead of each rule knowing the policy, the engine enriches every event
with what the policy says about it (``policy.logging.sanctioned: true``), the way a SIEM enriches
with lookup tables. A Sigma rule then filters on those fields, and stays portable. (The engine
skips a section whose fields no rule or analytic that sees the event reads: ``writes`` below,
``detectors.routing``; ``Policy.enrich`` always runs them all, as a SIEM's ingest would.)

A policy file is YAML with a ``kind`` and that kind's body. Each kind is one module in
``detectors/policy_kinds/``: a ``PolicyKind`` dataclass whose fields are the file's schema
(``detectors.schema`` loads it strictly: unknown or missing fields are errors naming the file and
field) and whose ``enrich`` turns it into fields on events. What a sanction may bind to is in
``detectors.sanction``; what the platform publishes for it (signers, its networks) is read through
``detectors.platform``.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import yaml

import lab.plugins as plugins
from detectors import schema
from detectors.event import Event
from detectors.policy_kinds import SHIPPED
from detectors.schema import PolicyError, expect

__all__ = ["DEFAULT_POLICY_DIR", "POLICY_KINDS", "GlobTest", "Policy", "PolicyError", "PolicyKind", "glob_test",
           "load_policy", "policy_kinds", "record", "register_policy_kind"]

DEFAULT_POLICY_DIR = Path(__file__).parent / "policy"


GlobTest = Callable[[Any], object]


def _never(value: Any) -> None:
    return None


def glob_test(globs: Iterable[str]) -> GlobTest:
    """A test, compiled once, whose result is truthy exactly when
    ``any(fnmatch.fnmatchcase(value, g) for g in globs)`` is; like fnmatchcase it raises TypeError on
    a value that is not a string. Policies run their globs on every event: fnmatchcase pays a cache
    lookup and a call per glob each time, one alternation of the translated globs pays neither."""
    patterns = [fnmatch.translate(glob) for glob in globs]
    if not patterns:
        return _never  # no glob: nothing matches, and nothing is even looked at (as any() over none)
    try:
        return re.compile("|".join(f"(?:{pattern})" for pattern in patterns)).match
    except re.error:  # a translation that cannot share one expression (group names): one each
        tests = [re.compile(pattern).match for pattern in patterns]
        return lambda value: any(test(value) for test in tests)


POLICY_KINDS: dict[str, type] = {}


class PolicyKind:
    """A policy kind whose dataclass fields (those a file may give) are its files' schema.

    Several files may be of one kind: lists add up, maps are merged, and a single value takes the
    last file's (a kind overrides ``merge`` where that would be wrong). ``bind`` hands the loaded
    policy to kinds that consult the platform's sections; ``enrich`` writes ``policy.*`` fields.
    """

    __slots__ = ()
    kind: ClassVar[str]
    sanction_lists: ClassVar[tuple[str, ...]] = ()  # its lists whose entries make something benign
    # Every field ``enrich`` may write ("x." for all under x.); None: undeclared, so it always runs.
    # The engine calls it only where a rule or analytic reads one of them (detectors.routing).
    writes: ClassVar[tuple[str, ...] | None] = None

    def load(self, body: dict[str, Any], path: Path) -> None:
        loaded = schema.load(type(self), body, path, "", ignore=("kind",))
        for setting in schema.given(type(self), body):
            self.merge(setting.name, getattr(loaded, setting.name))

    def merge(self, name: str, value: Any) -> None:
        current = getattr(self, name)
        if isinstance(current, tuple):
            value = (*current, *value)
        elif isinstance(current, dict):
            value = {**current, **value}
        setattr(self, name, value)

    def bind(self, policy: Policy) -> None:
        return None

    def enrich(self, event: Event) -> None:
        return None


class _PolicyKind(Protocol):
    kind: ClassVar[str]


_Kind = TypeVar("_Kind", bound=type[_PolicyKind])


@dataclass(slots=True)
class Policy:
    sections: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def section(self, kind: str) -> Any:
        return self.sections.get(kind)

    def bind(self) -> None:
        """Give each section that asks (``bind(policy)``) the whole policy: sanctions consult the
        platform's published trust and network inventory, which are sections of their own."""
        for section in self.sections.values():
            bind = getattr(section, "bind", None)
            if bind is not None:
                bind(self)

    def enrich(self, event: Event) -> Event:
        for section in self.sections.values():
            section.enrich(event)
        return event


def _refuse_duplicate_names(kind: str, body: dict[str, Any], path: Path,
                            named: dict[tuple[str, str, str], Path]) -> None:
    """Entries are named so that alerts and reviews can point at them: two entries of one kind with
    one name (in one file or two) would make that pointer ambiguous, so the second is refused."""
    for key, entries in body.items():
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                continue
            where = (kind, key, entry["name"])
            if where in named:
                raise PolicyError(path, f"{key}[{i}].name",
                                  f"duplicate name {entry['name']!r} (already in {named[where]})")
            named[where] = path


def record(event: Event, verdict: str, entry_field: str, hit: Any) -> None:
    """Write whether an entry covered the event (``verdict``: true or false) and, if one did, its name
    (``entry_field``), so an alert can say which entry made an event benign."""
    event[verdict] = hit is not None
    if hit is not None:
        event[entry_field] = hit.name


def register_policy_kind(cls: _Kind) -> _Kind:
    """Detection slices add their own policy kinds (images, egress, baselines, ...)."""
    if cls.kind in POLICY_KINDS and POLICY_KINDS[cls.kind] is not cls:
        raise ValueError(f"policy kind {cls.kind!r} registered twice")
    POLICY_KINDS[cls.kind] = cls
    return cls


def load_policy(dirs: Iterable[Path] = (DEFAULT_POLICY_DIR,)) -> Policy:
    """Load every ``*.yaml`` policy file. Raises PolicyError naming the file and field."""
    kinds = policy_kinds()
    policy = Policy()
    named: dict[tuple[str, str, str], Path] = {}  # (kind, list, entry name) -> the file that has it
    for directory in dirs:
        for path in sorted(Path(directory).glob("*.yaml")):
            try:
                body = yaml.safe_load(path.read_text())
            except yaml.YAMLError as exc:
                raise PolicyError(path, "(document)", f"not valid YAML: {exc}") from exc
            body = expect(body, dict, path, "(document)")
            kind = body.get("kind")
            if kind not in kinds:
                known = ", ".join(sorted(kinds))
                raise PolicyError(path, "kind", f"unknown policy kind {kind!r} (known: {known})")
            _refuse_duplicate_names(kind, body, path, named)
            section = policy.sections.setdefault(kind, kinds[kind]())
            section.load(body, path)
            policy.files.append(str(path))
    policy.bind()
    return policy


def policy_kinds() -> dict[str, type]:
    """Every registered policy kind. The shipped slices register theirs when their modules are
    imported; they are imported here, on first use, because they import this module themselves."""
    for module in SHIPPED:
        importlib.import_module(f"detectors.policy_kinds.{module}")

    # Kinds installed packages declare (``stowaway.policy_kinds`` entry points): loading the class is
    # not enough, it must carry a ``kind`` and register like the shipped ones.
    where = "(installed policy kinds)"
    try:
        installed = plugins.load("stowaway.policy_kinds")
    except plugins.PluginError as exc:
        raise PolicyError(where, "stowaway.policy_kinds", str(exc)) from exc
    for plugin in installed:
        kind = getattr(plugin.target, "kind", None)
        if not isinstance(plugin.target, type) or not isinstance(kind, str):
            raise PolicyError(where, plugin.name, f"{plugin.where()}: must be a policy kind class with a `kind` name")
        if POLICY_KINDS.get(kind) not in (None, plugin.target):
            raise PolicyError(where, plugin.name, f"{plugin.where()}: kind {kind!r} is already taken by "
                                                  f"{POLICY_KINDS[kind].__module__}")
        POLICY_KINDS[kind] = plugin.target
    return POLICY_KINDS
