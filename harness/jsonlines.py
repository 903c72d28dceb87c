"""JSON-lines reading shared by the readers of events (a recording, an ingest stage): each non-blank
line as an object, or why it is not one, with its line number."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson


def objects(lines: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number, the object or None, why it is none) for every non-blank line."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, None, f"not JSON ({exc})"
            continue
        if isinstance(value, dict):
            yield number, value, ""
        else:
            yield number, None, f"a JSON {type(value).__name__}, not an object"
