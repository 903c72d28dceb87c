"""Policy kind ``declared_changes``: file changes and new executables a platform team declared.

Inside containers, some writes to system files and some freshly installed binaries are expected:
an image build step installs a package (new binaries, a system user in /etc/passwd), a
configuration-management agent writes the cron file it owns. The team declares each one, with the
context it happens in and the paths it may touch. The engine then marks matching events
``policy.change.declared: true`` and the FIM and drop-and-execute rules leave them alone.

The context is provenance (``detectors.sanction``): the image the platform's pipeline signed, run
as built, or the platform networks the container is on. Never a label: anyone can stamp
``app.kubernetes.io/managed-by: confd`` on a container and write a cron entry. Each declaration
also limits the paths. What it still trusts: a process someone ``docker exec``s into a container of
the declared image inherits the declaration (a file event does not say which process wrote).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.platform import UNBOUND, Platform
from detectors.policies import GlobTest, PolicyError, _expect, _known, _strings, glob_test, register_policy_kind
from detectors.sanction import Provenanced

ACTIVITIES = ("file_change", "exec")


@dataclass(frozen=True, slots=True)
class Declaration:
    name: str
    description: str
    owner: str
    match: Provenanced
    paths: tuple[str, ...]  # globs on the path inside the container
    activities: tuple[str, ...]  # "file_change", "exec"
    _paths: GlobTest = field(init=False, repr=False, compare=False)  # the paths, compiled once

    def __post_init__(self) -> None:
        object.__setattr__(self, "_paths", glob_test(self.paths))

    FIELDS: ClassVar[tuple[str, ...]] = ("name", "description", "owner", "match", "paths", "activities")

    @classmethod
    def load(cls, data: Any, path: Path, where: str) -> Declaration:
        _expect(data, dict, path, where.rstrip("."))
        _known(data, cls.FIELDS, path, where)
        for required in cls.FIELDS:
            if required not in data:
                raise PolicyError(path, f"{where}{required}", "missing")
        activities = _strings(data["activities"], path, f"{where}activities")
        for i, activity in enumerate(activities):
            if activity not in ACTIVITIES:
                raise PolicyError(path, f"{where}activities[{i}]",
                                  f"unknown activity {activity!r} (known: {', '.join(ACTIVITIES)})")
        paths = _strings(data["paths"], path, f"{where}paths")
        if not paths:
            raise PolicyError(path, f"{where}paths", "declare at least one path")
        return cls(name=_expect(data["name"], str, path, f"{where}name"),
                   description=_expect(data["description"], str, path, f"{where}description"),
                   owner=_expect(data["owner"], str, path, f"{where}owner"),
                   match=Provenanced.load(data["match"], path, f"{where}match."),
                   paths=paths, activities=activities)


def _subject(event: Event) -> tuple[str, str] | None:
    """(activity, path inside the container) that a declaration could cover, or None."""
    if event.get("event.category") == "file_change" and event.get("file.path_in_container"):
        return "file_change", event["file.path_in_container"]
    if event.get("event.category") == "process" and event.get("process.executable"):
        return "exec", event["process.executable"]
    return None


@register_policy_kind
@dataclass(slots=True)
class DeclaredChangesPolicy:
    kind: ClassVar[str] = "declared_changes"
    sanction_lists: ClassVar[tuple[str, ...]] = ("declared",)
    declared: list[Declaration] = field(default_factory=list)
    platform: Platform = UNBOUND

    def bind(self, policy: Any) -> None:
        self.platform = Platform(policy)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "declared"), path, "")
        entries = _expect(body.get("declared", []), list, path, "declared")
        for i, entry in enumerate(entries):
            self.declared.append(Declaration.load(entry, path, f"declared[{i}]."))

    def enrich(self, event: Event) -> None:
        subject = _subject(event)
        if subject is None:
            return
        activity, target = subject
        hit = None
        for declaration in self.declared:
            if activity in declaration.activities and declaration._paths(target) \
                    and declaration.match.matches(event, self.platform):
                hit = declaration
                break
        event["policy.change.declared"] = hit is not None
        if hit is not None:
            event["policy.change.declaration"] = hit.name
