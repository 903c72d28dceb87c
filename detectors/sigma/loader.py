"""Read rule files: exactly one YAML document each, with duplicate keys refused.

PyYAML keeps the last of two equal keys without a word; in a selection that silently drops a
condition (two ``event.action`` lines), so the loader refuses it instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from detectors.sigma.errors import SigmaRuleError

RULE_SUFFIXES = (".yml", ".yaml")


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_rule_document(path: Path) -> dict[str, Any]:
    """The rule file's single YAML mapping. Raises SigmaRuleError (field ``document``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SigmaRuleError(path, "document", f"cannot read the file: {error}") from None
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=_StrictLoader) if doc is not None]
    except yaml.YAMLError as error:
        raise SigmaRuleError(path, "document", f"not valid YAML: {error}") from None
    if not documents:
        raise SigmaRuleError(path, "document", "the file holds no rule")
    if len(documents) > 1:
        raise SigmaRuleError(
            path,
            "document",
            f"the file holds {len(documents)} YAML documents; write one rule per file "
            "(multi-document rule collections are not supported)",
        )
    document = documents[0]
    if not isinstance(document, dict):
        raise SigmaRuleError(path, "document", f"a rule must be a YAML mapping, not {type(document).__name__}")
    return document


def rule_files(sources: str | Path | Iterable[str | Path]) -> list[Path]:
    """Expand directories (recursively, ``*.yml``/``*.yaml``, sorted) and keep files as given."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise SigmaRuleError(path, "document", "no such file or directory")
    return files
