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
from typing import ClassVar

from detectors.event import Event
from detectors.policies import GlobTest, glob_test, record, register_policy_kind
from detectors.sanction import Provenanced, ProvenanceKind
from detectors.schema import Entry, nonempty, one_of, setting

ACTIVITIES = ("file_change", "exec")


@dataclass(frozen=True, slots=True)
class Declaration(Entry):
    match: Provenanced = setting(doc="the context the change happens in, by provenance")
    paths: tuple[str, ...] = setting(doc="globs on the path inside the container",
                                     check=nonempty("declare at least one path"))
    activities: tuple[str, ...] = setting(doc="what may happen there: file_change, exec",
                                          each=one_of(ACTIVITIES, "activity"))
    _paths: GlobTest = field(init=False, repr=False, compare=False)  # the paths, compiled once

    def __post_init__(self) -> None:
        object.__setattr__(self, "_paths", glob_test(self.paths))


def _subject(event: Event) -> tuple[str, str] | None:
    """(activity, path inside the container) that a declaration could cover, or None."""
    if event.get("event.category") == "file_change" and event.get("file.path_in_container"):
        return "file_change", event["file.path_in_container"]
    if event.get("event.category") == "process" and event.get("process.executable"):
        return "exec", event["process.executable"]
    return None


@register_policy_kind
@dataclass(slots=True)
class DeclaredChangesPolicy(ProvenanceKind):
    kind: ClassVar[str] = "declared_changes"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.change.",)
    sanction_lists: ClassVar[tuple[str, ...]] = ("declared",)
    declared: tuple[Declaration, ...] = setting((), doc="declared file changes and new executables")

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
        record(event, "policy.change.declared", "policy.change.declaration", hit)
