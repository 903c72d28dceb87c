"""The pySigma processing pipeline `stowaway` (detectors/sigma/pipelines/stowaway.py): pySigma finds it
where the wheel installs it, it reads the same logsource table as the local engine, and it refuses
what the engine refuses. What it converts gives the engine's answers: tests/unit/test_sigma_parity.py."""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaTransformationError
from sigma.plugins import InstalledSigmaPlugins
from sigma.processing.pipeline import ProcessingPipeline

from detectors.engine import load_rules
from detectors.sigma.logsources import SOURCES
from detectors.sigma.pipelines.stowaway import stowaway_pipeline

ROOT = Path(__file__).parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

SIGMAHQ_RULE = """
title: Process started by a given user
id: 5e7c1b2a-9f3d-4c6e-8a1b-2d3e4f5a6b7c
status: test
level: low
logsource:
    category: process_creation
    product: linux
detection:
    selection:
        Image|endswith: /curl
        User: root
    condition: selection
"""


def test_pysigma_discovers_the_pipeline_where_the_wheel_installs_it(tmp_path, monkeypatch):
    """Lays the module out as pyproject.toml's [tool.setuptools] installs it, then lets pySigma's own
    plugin discovery (what sigma-cli runs) look for it. An editable install is not found this way."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    (module,) = setuptools["py-modules"]
    package, name = module.rsplit(".", 1)
    installed = tmp_path.joinpath(*package.split("."), f"{name}.py")
    installed.parent.mkdir(parents=True)
    shutil.copy(ROOT / setuptools["package-dir"][package] / f"{name}.py", installed)
    assert module == "sigma.pipelines.stowaway"
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    try:
        pipelines = InstalledSigmaPlugins.autodiscover(include_backends=False, include_validators=False).pipelines
        assert sys.modules[module].__file__ == str(installed)
    finally:
        sys.modules.pop(module, None)
    assert [key for key in pipelines if "stowaway" in key] == ["stowaway"]
    assert isinstance(pipelines["stowaway"](), ProcessingPipeline)


def test_the_packaging_keeps_pysigma_out_of_the_runtime_dependencies():
    project = PYPROJECT["project"]
    assert not [d for d in project["dependencies"] if d.lower().startswith(("pysigma", "jsonschema"))]
    extras = project["optional-dependencies"]
    assert any(d.startswith("pysigma") for d in extras["sigma"])
    assert any(d.startswith("pysigma-backend-sqlite") for d in extras["test"])


def test_every_shipped_rule_has_a_row_of_its_own():
    """No shipped rule relies on the generic reading of a logsource: each is in docs/sigma.md's table."""
    assert not [rule.path for rule in load_rules() if rule.logsource not in SOURCES]


def test_a_sigmahq_field_without_an_equivalent_fails_the_conversion_by_name():
    backend = sqliteBackend(processing_pipeline=stowaway_pipeline())
    with pytest.raises(SigmaTransformationError, match="field 'User' has no equivalent"):
        backend.convert(SigmaCollection.from_yaml(SIGMAHQ_RULE))


def test_sigmahq_fields_are_renamed_and_the_category_becomes_an_action():
    backend = sqliteBackend(processing_pipeline=stowaway_pipeline())
    (query,) = backend.convert(SigmaCollection.from_yaml(SIGMAHQ_RULE.replace("        User: root\n", "")))
    for test in ("`event.module`='linux'", "`event.dataset`='linux.process'", "`event.action`='exec'",
                 "`process.executable` LIKE '%/curl'"):
        assert test in query, query
    assert "Image" not in query
