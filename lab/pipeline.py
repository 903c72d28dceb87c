"""The platform's image pipeline, and builds anyone with the engine socket can make.

Two ways an image comes to be on the lab engine, and only one leaves provenance:

- ``ImagePipeline.build_signed``: the platform's pipeline builds a recipe with BuildKit (no
  network) and signs the resulting image id with the platform's key (``lab.provenance``). The key
  lives under the lab's state directory, root-only, and is never mounted into a container: a
  workload cannot sign. Cached by recipe: an image is reused only while its signature verifies.
- ``ImagePipeline.build_unsigned``: the same build, as anyone holding the engine socket could make
  it on the host. It can carry any tag and any label; it has no signature.

BuildKit, not the classic builder: BuildKit runs a build's RUN steps inside the engine's own
builder (cgroups under the engine's ``buildkit`` parent), never as engine containers, so a build
step cannot be confused with a container that merely looks like one (log driver ``none``, no
network, an image referenced by id), which anyone can start. The lab engine's classic builder is
still there for whoever asks for it (``DOCKER_BUILDKIT=0``); its steps are ordinary containers.

The pipeline also publishes what its detectors need to verify it: the signer's public key and
where the signatures are (``<state>/policy/platform-trust.yaml``, loaded with the other published
policy). That file says who signs, nothing about any scenario.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from lab import provenance
from lab.engine import Engine
from lab.errors import LabError
from lab.images import ImageRecipe, ensure_base_image

SIGNER = "platform-image-pipeline"
TRUST_FILE = "platform-trust.yaml"
BUILD_TIMEOUT_S = 900


@dataclass(frozen=True, slots=True)
class BuildRecipe:
    """What to build: a Dockerfile and its context. ``{base}`` in the Dockerfile is the lab base image."""

    repository: str  # what the image is built as ("platform/egress-proxy"); the pipeline signs this identity
    dockerfile: str
    files: tuple[tuple[str, bytes], ...] = ()  # build context: (relative path, content)

    @classmethod
    def of(cls, repository: str, dockerfile: str, files: Mapping[str, str | bytes | Path] | None = None) -> BuildRecipe:
        """``files`` values are text, bytes, or a host file to copy into the context."""
        context = []
        for name, content in sorted((files or {}).items()):
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise LabError(f"build context path {name!r} must be relative and stay inside the context")
            if isinstance(content, Path):
                data = content.read_bytes()
            elif isinstance(content, str):
                data = content.encode()
            else:
                data = bytes(content)
            context.append((name, data))
        return cls(repository=repository, dockerfile=dockerfile, files=tuple(context))

    def digest(self, base: str) -> str:
        hasher = hashlib.sha256()
        hasher.update(json.dumps([self.repository, self.dockerfile, base]).encode())
        for name, data in self.files:
            hasher.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return hasher.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class BuiltImage:
    reference: str  # repository:tag
    id: str  # sha256:...


def _buildkit_cli() -> str:
    """A docker CLI that drives BuildKit on its own: Debian's docker.io CLI (20.10) does; newer CLIs
    need the buildx plugin, which Debian's engine package does not ship."""
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise LabError("no docker CLI to build images with: `apt-get install -y docker.io` (or `stowaway setup`)")


class ImagePipeline:
    """Builds on one engine; signs with the platform key kept under the lab's state directory."""

    def __init__(self, engine: Engine, base: str) -> None:
        self.engine = engine
        self.base = base
        self.paths = engine.paths

    # --- the platform's pipeline ---------------------------------------------------------------
    def build_signed(self, recipe: BuildRecipe) -> BuiltImage:
        """Build (or reuse) and sign. Raises LabError when the build fails, with its output."""
        tag = f"{recipe.repository}:{recipe.digest(self.base)}"
        with self._recipe_lock(tag):
            image_id = self._image_id(tag)
            if image_id is None or not self.is_signed(image_id, recipe.repository):
                image_id = self._build(recipe, tag)
                self.sign(image_id, recipe.repository, extra={"recipe": recipe.digest(self.base)})
        return BuiltImage(reference=tag, id=image_id)

    def import_signed(self, recipe: ImageRecipe) -> BuiltImage:
        """Import a Debian root filesystem (``lab.images``: debootstrap, offline, cached by recipe) as
        ``recipe.repository`` and sign it, as the pipeline does with the lab base image: other base
        images the platform ships are made the same way. Builds FROM it name its reference.

        Raises:
            LabError: debootstrap or the import failed.
        """
        with self._recipe_lock(recipe.tag):
            reference = ensure_base_image(self.engine, recipe)
            image_id = self._image_id(reference)
            if image_id is None:
                raise LabError(f"the import of {reference} reported success but the engine has no such image")
            if not self.is_signed(image_id, recipe.repository):
                self.sign(image_id, recipe.repository, extra={"recipe": recipe.digest()})
        return BuiltImage(reference=reference, id=image_id)

    def sign(self, image_id: str, identity: str, extra: Mapping[str, str] | None = None) -> None:
        """Sign an image the pipeline made (also the debootstrap base image, which it imports)."""
        config = self.engine.client.api.inspect_image(image_id).get("Config") or {}
        command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
        key = provenance.load_or_create_key(self.paths.platform_key)
        provenance.sign(key, self.paths.signatures, image_id, identity, command, extra)

    def is_signed(self, image_id: str, identity: str) -> bool:
        key = provenance.load_or_create_key(self.paths.platform_key)
        try:
            document = provenance.signature_file(self.paths.signatures, image_id).read_bytes()
        except OSError:
            return False
        found = provenance.verify(document, image_id, {SIGNER: key.public_key()})
        return any(p.identity == identity for p in found)

    def publish_trust(self) -> Path:
        """Write the signer's public key and signature store where the detectors load policy."""
        key = provenance.load_or_create_key(self.paths.platform_key)
        text = (
            "# Published by the lab's image pipeline at every lab start. Do not edit: the key is the\n"
            "# pipeline's own, and the private half never leaves the lab's state directory.\n"
            "kind: trust\n"
            "signers:\n"
            f"  - name: {SIGNER}\n"
            "    owner: platform-team\n"
            "    description: The platform's offline image pipeline signs every image it builds.\n"
            f"    public_key: \"{provenance.public_key_text(key.public_key())}\"\n"
            f"    signatures: \"{self.paths.signatures}\"\n"
        )
        directory = self.paths.published_policy
        directory.mkdir(parents=True, exist_ok=True)
        # Before signatures, the pipeline published pinned image ids; that kind of file is gone.
        (directory / "base-image.yaml").unlink(missing_ok=True)
        path = directory / TRUST_FILE
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        return path

    # --- anyone with the engine socket ---------------------------------------------------------
    def build_unsigned(self, recipe: BuildRecipe, tag: str | None = None) -> BuiltImage:
        tag = tag or f"{recipe.repository}:{secrets.token_hex(4)}"
        return BuiltImage(reference=tag, id=self._build(recipe, tag))

    def discard(self, built: BuiltImage) -> None:
        """Remove a pipeline image made for one run only, and its signature."""
        self.remove(built.reference)
        with contextlib.suppress(OSError, ValueError):
            provenance.signature_file(self.paths.signatures, built.id).unlink()

    def remove(self, reference: str) -> None:
        with contextlib.suppress(Exception):  # already gone is fine
            self.engine.client.images.remove(reference, force=True, noprune=False)

    # --- the build itself ------------------------------------------------------------------------
    def _build(self, recipe: BuildRecipe, tag: str) -> str:
        with tempfile.TemporaryDirectory(prefix="stowaway-build-") as tmp:
            context = Path(tmp)
            (context / "Dockerfile").write_text(recipe.dockerfile.replace("{base}", self.base))
            for name, data in recipe.files:
                target = context / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            env = {**os.environ, "DOCKER_BUILDKIT": "1", "BUILDKIT_PROGRESS": "plain"}
            command = [_buildkit_cli(), "-H", self.engine.base_url, "build", "--network", "none", "-t", tag,
                       str(context)]
            try:
                result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT_S,
                                        check=False)
            except subprocess.TimeoutExpired as exc:
                raise LabError(f"the build of {tag} took more than {BUILD_TIMEOUT_S}s") from exc
        if result.returncode != 0:
            raise LabError(f"the build of {tag} failed ({result.returncode}): {result.stderr[-2000:]}")
        image_id = self._image_id(tag)
        if image_id is None:
            raise LabError(f"the build of {tag} reported success but the engine has no such image")
        return image_id

    def _image_id(self, reference: str) -> str | None:
        try:
            return str(self.engine.client.api.inspect_image(reference)["Id"])
        except Exception:  # not found (or the engine cannot say): build it
            return None

    @contextlib.contextmanager
    def _recipe_lock(self, tag: str) -> Iterator[None]:
        # Parallel scenarios (and parallel runs) ask for the same platform image: build it once.
        locks = self.paths.runtime / "builds"
        locks.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(tag.encode()).hexdigest()[:16]
        with open(locks / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
