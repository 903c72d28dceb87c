"""Shared by the deploy and tamper scenarios: build an image on the lab engine's host, offline."""

from __future__ import annotations

import contextlib
import io

import docker.errors

from lab import Lab, LabError


def build_on_host(lab: Lab, tag: str, dockerfile: str) -> str:
    """``docker build`` (the classic builder: BuildKit is off on the lab engine) from a Dockerfile
    text, with no network. Registers the image's removal. Returns the image id."""
    client = lab.engine.client
    try:
        image, _logs = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True,
                                           network_mode="none")
    except (docker.errors.BuildError, docker.errors.APIError) as exc:
        raise LabError(f"docker build of {tag} failed: {exc}") from exc
    lab.cleanup(f"remove image {tag}", lambda: remove_image(lab, tag))
    return str(image.id)


def remove_image(lab: Lab, tag: str) -> None:
    with contextlib.suppress(docker.errors.ImageNotFound):
        lab.engine.client.images.remove(tag, force=True, noprune=False)
