"""Policy kind ``images``: which images may run.

Approved images are the ones a trusted pipeline signed; a name alone approves nothing. A tag is a
movable name, so ``pipeline_repositories`` lists names only the pipeline publishes under: an image
that carries one of them without the pipeline's signature is an impersonation (a re-tag, a local
rebuild), "looks approved, is not".

Enrichment: ``policy.image.repository``, ``policy.image.repository_protected``,
``policy.image.approved`` and the approving entry's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from detectors.event import Event
from detectors.policies import GlobTest, glob_test, record, register_policy_kind
from detectors.sanction import ProvenanceKind, SignedImage
from detectors.schema import Entry, setting


def repository_of(reference: str) -> str:
    """``registry:5000/team/app:1.2@sha256:..`` -> ``registry:5000/team/app``."""
    ref = reference.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref = ref[: len(ref) - len(last)] + last.split(":", 1)[0]
    return ref


@dataclass(frozen=True, slots=True)
class TrustedBuild(Entry):
    image: SignedImage = setting(doc="what the pipeline signed; approves the image under whatever name it runs")


@dataclass(frozen=True, slots=True)
class PipelineRepositories(Entry):
    repositories: tuple[str, ...] = setting(doc="repository globs only the pipeline publishes under")
    test: GlobTest = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "test", glob_test(self.repositories))


@register_policy_kind
@dataclass(slots=True)
class ImagesPolicy(ProvenanceKind):
    kind: ClassVar[str] = "images"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.image.",)
    sanction_lists: ClassVar[tuple[str, ...]] = ("trusted_builds",)
    requires_field: ClassVar[str] = "container.image.id"  # enrich tests it first (detectors.routing)
    trusted: tuple[TrustedBuild, ...] = setting((), key="trusted_builds", doc="images approved by signature")
    repositories: tuple[PipelineRepositories, ...] = setting(
        (), key="pipeline_repositories", doc="names that, without the pipeline's signature, are impersonation")

    def enrich(self, event: Event) -> None:
        image_id = event.get("container.image.id")
        name = event.get("container.image.name")
        if not image_id or name is None:
            return
        repository = repository_of(str(name))
        protected = any(entry.test(repository) for entry in self.repositories)
        event["policy.image.repository"] = repository
        event["policy.image.repository_protected"] = protected
        # Approval is of the image's content, under whatever name it runs (a signed image is
        # approved even when run by id); which command it runs is for the behaviour sanctions.
        signed = self.platform.provenance(image_id)
        hit = next((t for t in self.trusted for p in signed
                    if p.signer == t.image.signer and t.image._identities(p.identity)), None)
        record(event, "policy.image.approved", "policy.image.approval", hit)
