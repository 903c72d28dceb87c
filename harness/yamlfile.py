"""The house's small YAML files (detector mappings, playbooks): read one as a mapping, and refuse
what is wrong with an error that names the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class FileFieldError(ValueError):
    """A file is broken. The message names the file and the field (``path: field: message``)."""

    def __init__(self, path: Path | str, field_name: str, message: str) -> None:
        super().__init__(f"{path}: {field_name}: {message}")
        self.path, self.field = str(path), field_name


def read_mapping(path: Path, error: type[FileFieldError], shape: str, known: set[str]) -> dict[str, Any]:
    """The file's top-level mapping; ``error`` for a file that cannot be read, is not YAML, is not a
    mapping (``shape`` says what it should hold) or has a key outside ``known``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(path, "(file)", f"cannot be read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise error(path, "(file)", f"is not YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise error(path, "(file)", f"must be a mapping with {shape}")
    unknown = sorted((str(k) for k in set(data) - known), key=str)
    if unknown:
        raise error(path, unknown[0], f"unknown key (known: {', '.join(sorted(known))})")
    return data


def text(path: Path, where: str, value: Any, error: type[FileFieldError]) -> str:
    """``value`` as a non-empty string, stripped; ``error`` naming ``where`` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise error(path, where, f"must be a non-empty string, not {value!r}")
    return value.strip()
