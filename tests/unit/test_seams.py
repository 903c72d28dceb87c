"""The seams between packages, as DESIGN.md draws them, checked on the source (ast, no imports run).

Scenarios talk to the lab only through the ``Lab`` façade: they import ``lab`` (its public names) and
``scenarios``, never the Docker SDK, never ``lab.<internal module>``, and never reach for an engine
client (``.engine``, ``.client``). The lab imports nothing else of ours. The detectors import neither
scenarios nor harness, and of the lab only the modules that define a format both sides share.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("lab", "detectors", "harness", "scenarios")
# The formats the detectors share with the lab: bookkeeping names (labels they drop, tracefs
# instances they own) and the signatures the platform's pipeline writes (cosign simple signing).
SHARED_WITH_DETECTORS = {"lab.naming", "lab.plugins", "lab.provenance"}


def modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "assets" not in p.parts)


def imported(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", modules("scenarios"), ids=rel)
def test_a_scenario_uses_the_lab_facade_only(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for name in imported(tree):
        top = name.split(".")[0]
        assert top != "docker", f"{rel(path)} imports {name}: use the Lab façade (lab.views) instead"
        if top in OURS:
            assert name == "lab" or top == "scenarios", f"{rel(path)} imports {name}: only `lab` and `scenarios`"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("engine", "client", "_session"):
            raise AssertionError(f"{rel(path)}:{node.lineno} reaches past the façade (.{node.attr})")


def test_the_lab_imports_nothing_else_of_ours() -> None:
    for path in modules("lab"):
        for name in imported(ast.parse(path.read_text(), filename=str(path))):
            top = name.split(".")[0]
            assert top not in OURS or top == "lab", f"{rel(path)} imports {name}"


def test_detectors_import_only_shared_formats_of_the_lab() -> None:
    for path in modules("detectors"):
        for name in imported(ast.parse(path.read_text(), filename=str(path))):
            top = name.split(".")[0]
            assert top not in ("scenarios", "harness"), f"{rel(path)} imports {name}"
            assert top != "lab" or name in SHARED_WITH_DETECTORS, f"{rel(path)} imports {name}: not a shared format"


def test_the_harness_uses_the_labs_public_api() -> None:
    for path in modules("harness"):
        for name in imported(ast.parse(path.read_text(), filename=str(path))):
            assert not name.startswith("lab.") or name in SHARED_WITH_DETECTORS, \
                f"{rel(path)} imports {name}: import it from `lab` (its public API, lab/__init__.py)"


def test_the_check_would_catch_a_raw_client() -> None:
    tree = ast.parse("import docker\nlab.engine.client.containers.get('x')\n")
    assert "docker" in list(imported(tree))
    assert any(isinstance(n, ast.Attribute) and n.attr == "engine" for n in ast.walk(tree))


def test_rule_ids_are_parsed_once_per_set_of_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import monitoring

    calls: list[object] = []
    real = monitoring.load_rules
    monkeypatch.setattr(monitoring, "load_rules", lambda dirs: calls.append(dirs) or real(dirs))
    monitoring._rule_ids.cache_clear()
    rules = tmp_path / "rules"
    rules.mkdir()
    source = next((ROOT / "detectors" / "rules").glob("*.yml"))
    (rules / source.name).write_text(source.read_text())
    first = monitoring.known_detector_ids([rules])
    assert monitoring.known_detector_ids([rules]) == first and len(calls) == 1
    edited = rules / source.name
    edited.write_text(source.read_text().replace("level:", "# edited\nlevel:", 1))
    stat = edited.stat()
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # clocks are coarse
    monitoring.known_detector_ids([rules])
    assert len(calls) == 2  # an edited file is read again
