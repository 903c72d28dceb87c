"""Policy kind ``declared_changes``: file changes and new executables a platform team declared.

Inside containers, some writes to system files and some freshly installed binaries are expected:
an image build step installs a package (new binaries, a system user in /etc/passwd), a
configuration-management agent writes the cron file it owns. The team declares each one, with the
context it happens in and the paths it may touch. The engine then marks matching events
``policy.change.declared: true`` and the FIM and drop-and-execute rules leave them alone.

The context matches on container labels, image and names (globs). Labels are what build pipelines
and deployers stamp on what they make (``org.opencontainers.image.source``,
``app.kubernetes.io/managed-by``). A declaration is only as strong as that stamp: anyone who can
stamp the same label is trusted alike, which is why each declaration also limits the paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.policies import GlobTest, PolicyError, _expect, _known, _strings, glob_test, register_policy_kind

ACTIVITIES = ("file_change", "exec")


@dataclass(frozen=True, slots=True)
class ChangeContext:
    labels: tuple[tuple[str, str], ...] = ()  # label key -> glob on its value
    images: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    # Compiled once: ((label field, its glob test), ...), the images test, the names test.
    _tests: tuple[Any, GlobTest, GlobTest] = field(init=False, repr=False, compare=False)

    FIELDS: ClassVar[tuple[str, ...]] = ("labels", "images", "names")

    def __post_init__(self) -> None:
        labels = tuple((f"container.labels.{key}", glob_test([glob])) for key, glob in self.labels)
        object.__setattr__(self, "_tests", (labels, glob_test(self.images), glob_test(self.names)))

    @classmethod
    def load(cls, data: Any, path: Path, where: str) -> ChangeContext:
        _expect(data, dict, path, where.rstrip("."))
        _known(data, cls.FIELDS, path, where)
        if not data:
            raise PolicyError(path, where.rstrip("."), "an empty match would declare everything")
        labels = _expect(data.get("labels", {}), dict, path, f"{where}labels")
        for key, value in labels.items():
            _expect(value, str, path, f"{where}labels.{key}")
        return cls(labels=tuple(sorted(labels.items())),
                   images=_strings(data.get("images", []), path, f"{where}images"),
                   names=_strings(data.get("names", []), path, f"{where}names"))

    def matches(self, event: Event) -> bool:
        labels, images, names = self._tests
        for name, test in labels:
            value = event.get(name)
            if value is None or not test(str(value)):
                return False
        image = event.get("container.image.name") or ""
        if self.images and not images(image):
            return False
        return not self.names or bool(names(event.get("container.name") or ""))


@dataclass(frozen=True, slots=True)
class Declaration:
    name: str
    description: str
    owner: str
    match: ChangeContext
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
                   match=ChangeContext.load(data["match"], path, f"{where}match."),
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
    declared: list[Declaration] = field(default_factory=list)

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
            if activity in declaration.activities and declaration.match.matches(event) \
                    and declaration._paths(target):
                hit = declaration
                break
        event["policy.change.declared"] = hit is not None
        if hit is not None:
            event["policy.change.declaration"] = hit.name
