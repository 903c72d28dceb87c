"""Shared by the deploy and tamper scenarios: build an image on the lab engine's host, offline."""

from __future__ import annotations

from lab import BuildRecipe, Lab


def build_on_host(lab: Lab, tag: str, dockerfile: str) -> str:
    """``docker build`` on the host, as anyone with the engine socket can (BuildKit, no network): no
    pipeline, no signature. The image is removed at cleanup. Returns the image id."""
    reference = lab.build_image(BuildRecipe.of(tag.rsplit(":", 1)[0], dockerfile), tag=tag)
    return lab.image_id(reference)
