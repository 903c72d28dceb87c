"""The one error a Sigma rule can raise while it is read, checked or compiled."""

from __future__ import annotations

from pathlib import Path


class SigmaRuleError(Exception):
    """A rule file is unusable. ``field`` is the dotted path inside the YAML that is wrong.

    Examples of ``field``: ``title``, ``logsource.service``, ``condition``,
    ``detection.selection.container.image|endswith``, ``detection.filter[1].process.name``.
    File-level problems (unreadable, not YAML, several documents) use ``document``.
    """

    def __init__(self, path: str | Path, field: str, message: str) -> None:
        self.path = str(path)
        self.field = field
        self.message = message
        super().__init__(f"{self.path}: {field}: {message}")

    def __reduce__(self) -> tuple[type[SigmaRuleError], tuple[str, str, str]]:
        # Keeps the error picklable (multiprocessing, pytest-xdist) despite the custom __init__.
        return (type(self), (self.path, self.field, self.message))
