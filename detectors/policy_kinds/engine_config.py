"""Policy kind ``engine_config``: which engine (daemon.json) settings the approved deployer may change.

Any other change is unapproved; so is a change whose content could not be parsed (it has no key
list, so it cannot be shown to be an approved one). What it still trusts: who wrote the file.

Enrichment: ``policy.engine_config.unapproved_keys`` and ``policy.engine_config.approved``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from detectors.event import Event
from detectors.policies import PolicyKind, register_policy_kind
from detectors.schema import Entry, setting


@dataclass(frozen=True, slots=True)
class ApprovedEngineChange(Entry):
    keys: tuple[str, ...] = setting(doc="daemon.json keys this change may touch")


@register_policy_kind
@dataclass(slots=True)
class EngineConfigPolicy(PolicyKind):
    kind: ClassVar[str] = "engine_config"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.engine_config.",)
    sanction_lists: ClassVar[tuple[str, ...]] = ("approved_changes",)
    requires_field: ClassVar[str] = "engine.config.changed_keys"  # enrich tests it first (detectors.routing)
    approved: tuple[ApprovedEngineChange, ...] = setting((), key="approved_changes", doc="approved changes")

    def enrich(self, event: Event) -> None:
        if "engine.config.changed_keys" not in event:
            return
        allowed = {k for change in self.approved for k in change.keys}
        changed = list(event.get("engine.config.changed_keys") or [])
        unapproved = [k for k in changed if k not in allowed]
        event["policy.engine_config.unapproved_keys"] = unapproved
        event["policy.engine_config.approved"] = bool(changed) and not unapproved and \
            not event.get("engine.config.unparseable")
