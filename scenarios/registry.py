"""Find, validate and index scenarios.

A scenario's id is its file's path under a scenario root, dotted, with ``_`` written ``-``:
``scenarios/docker/logging/log_driver_none.py`` is ``docker.logging.log-driver-none``. So an id
always tells where to find its file. Files whose name starts with ``_`` hold shared helpers.

Built-in scenarios live in this package. Users add their own by giving extra directories (the
CLI's ``--scenarios DIR``), or by installing a scenario pack (a package declared in the
``stowaway.scenarios`` entry-point group, ``lab.plugins``); those load by path and follow the same
rules. Duplicate ids are refused.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from lab import plugins
from scenarios.api import Expectation, Kind, Scenario
from scenarios.attack import catalog
from scenarios.variants import Dimension

BUILTIN_ROOT = Path(__file__).parent
BACKENDS = ("docker", "swarm", "kubernetes")
_NOT_SCENARIOS = {"api.py", "registry.py", "attack.py", "__init__.py", "variants.py"}


class ScenarioError(ValueError):
    """A scenario file is broken. The message names the file and the field."""

    def __init__(self, path: Path | str, field_name: str, message: str) -> None:
        super().__init__(f"{path}: {field_name}: {message}")
        self.path = str(path)
        self.field = field_name


def id_for(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    return ".".join(part.replace("_", "-") for part in rel.parts)


def _scenario_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if path.name.startswith("_") or (len(rel.parts) == 1 and path.name in _NOT_SCENARIOS):
            continue
        if any(part.startswith((".", "_")) for part in rel.parts[:-1]):
            continue
        files.append(path)
    return files


def _import(path: Path, root: Path) -> ModuleType:
    if root == BUILTIN_ROOT:
        module_name = "scenarios." + ".".join(path.relative_to(root).with_suffix("").parts)
        return importlib.import_module(module_name)
    module_name = f"stowaway_user_scenarios.{abs(hash(str(root)))}." + id_for(path, root).replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ScenarioError(path, "(file)", "cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def validate_expectation(expect: Expectation, kind: Kind, path: Path | str) -> None:
    """The shape of an expectation; whether its rule ids exist is the runner's check (it knows the
    detectors). Raises ScenarioError naming the file and the field."""
    if kind is Kind.ADVERSARY and not expect.fires:
        raise ScenarioError(path, "expect.fires", "an adversary scenario must name the rules that should fire")
    if kind is Kind.BENIGN and not expect.silent:
        raise ScenarioError(path, "expect.silent", "a benign scenario must name the rules that must stay silent")
    if kind is Kind.BENIGN and expect.fires:
        raise ScenarioError(path, "expect.fires", "a benign scenario expects nothing to fire")
    if expect.within_s <= 0 or expect.window_s <= 0:
        raise ScenarioError(path, "expect", "within_s and window_s must be positive")
    may_fire = expect.may_fire
    if not isinstance(may_fire, Mapping):
        raise ScenarioError(path, "expect.may_fire",
                            f"expected a mapping of rule id to reason, got {type(may_fire).__name__}")
    if may_fire and kind is Kind.BENIGN:
        # On a benign workload every alert is a false positive; there is nothing to excuse.
        raise ScenarioError(path, "expect.may_fire", "a benign scenario allows no rule to fire")
    for rule_id, reason in may_fire.items():
        where = f"expect.may_fire[{rule_id!r}]"
        if not isinstance(rule_id, str) or not rule_id.strip():
            raise ScenarioError(path, "expect.may_fire", f"rule ids must be non-empty strings, got {rule_id!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise ScenarioError(path, where, "needs a reason: one sentence saying why this rule rightly fires "
                                             "on what the scenario really does")
        if rule_id in expect.fires:
            raise ScenarioError(path, where, "is also in expect.fires: a rule is either expected or allowed, "
                                             "not both")


def _validate(cls: type[Scenario], path: Path, expected_id: str) -> None:
    def need(attr: str, kind: type | tuple[type, ...]) -> object:
        if not hasattr(cls, attr):
            raise ScenarioError(path, attr, "missing")
        value = getattr(cls, attr)
        if not isinstance(value, kind):
            raise ScenarioError(path, attr, f"expected {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
        return value

    scenario_id = need("id", str)
    if scenario_id != expected_id:
        raise ScenarioError(path, "id", f"is {scenario_id!r} but this file's path makes it {expected_id!r}")
    if not str(need("title", str)).strip():
        raise ScenarioError(path, "title", "empty")
    kind = need("kind", Kind)
    if not str(need("description", str)).strip():
        raise ScenarioError(path, "description", "empty: say what the scenario really does")
    techniques = need("techniques", tuple)
    known = catalog()
    if not techniques:
        raise ScenarioError(path, "techniques", "at least one ATT&CK technique id is needed")
    for i, technique in enumerate(techniques):  # type: ignore[arg-type]
        if technique not in known.techniques:
            raise ScenarioError(path, f"techniques[{i}]",
                                f"{technique!r} is not in the pinned ATT&CK v{known.version} catalog "
                                "(scenarios/attack.yaml)")
    backends = need("backends", tuple)
    for i, backend in enumerate(backends):  # type: ignore[arg-type]
        if backend not in BACKENDS:
            raise ScenarioError(path, f"backends[{i}]", f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    expect = need("expect", Expectation)
    assert isinstance(expect, Expectation)
    validate_expectation(expect, kind, path)  # type: ignore[arg-type]
    need("tags", tuple)
    dimensions = need("dimensions", tuple)
    seen: set[str] = set()
    for i, dimension in enumerate(dimensions):  # type: ignore[arg-type]
        if not isinstance(dimension, Dimension):
            raise ScenarioError(path, f"dimensions[{i}]", f"expected Dimension, got {type(dimension).__name__}")
        problems = dimension.problems()
        if problems:
            raise ScenarioError(path, f"dimensions[{i}]", "; ".join(problems))
        if dimension.name in seen:
            raise ScenarioError(path, f"dimensions[{i}].name", f"{dimension.name!r} is declared twice")
        seen.add(dimension.name)
    if "detonate" not in vars(cls) and cls.detonate is Scenario.detonate:
        raise ScenarioError(path, "detonate", "not implemented")


@dataclass(slots=True)
class Registry:
    scenarios: dict[str, type[Scenario]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def add(self, cls: type[Scenario], source: str) -> None:
        if cls.id in self.scenarios:
            raise ScenarioError(source, "id", f"duplicate id {cls.id!r}, already defined in {self.sources[cls.id]}")
        self.scenarios[cls.id] = cls
        self.sources[cls.id] = source

    def get(self, scenario_id: str) -> type[Scenario]:
        try:
            return self.scenarios[scenario_id]
        except KeyError:
            raise KeyError(f"no scenario {scenario_id!r}; `stowaway list` shows them") from None

    def all(self) -> list[type[Scenario]]:
        return [self.scenarios[k] for k in sorted(self.scenarios)]

    def select(self, ids: Iterable[str] = (), tags: Iterable[str] = (), techniques: Iterable[str] = (),
               backend: str | None = None) -> list[type[Scenario]]:
        ids, tags, techniques = list(ids), set(tags), list(techniques)
        chosen = [self.get(i) for i in ids] if ids else self.all()
        if tags:
            chosen = [s for s in chosen if tags & set(s.tags)]
        if techniques:
            chosen = [s for s in chosen
                      if any(t == u or t.startswith(u + ".") for t in s.techniques for u in techniques)]
        if backend:
            chosen = [s for s in chosen if backend in s.backends]
        return chosen


def pack_roots() -> list[Path]:
    """The directories of installed scenario packs (``stowaway.scenarios`` entry points)."""
    try:
        return [plugin.directory().resolve() for plugin in plugins.load("stowaway.scenarios")]
    except plugins.PluginError as exc:
        raise ScenarioError("(installed scenario packs)", "stowaway.scenarios", str(exc)) from exc


def load(extra_dirs: Iterable[Path | str] = (), include_builtin: bool = True) -> Registry:
    """Load and validate every scenario: built-in (unless told not to), installed packs, and
    ``extra_dirs``. Raises ScenarioError naming the file and field."""
    registry = Registry()
    roots = ([BUILTIN_ROOT, *pack_roots()] if include_builtin else []) + [Path(d).resolve() for d in extra_dirs]
    for root in roots:
        if not root.is_dir():
            raise ScenarioError(root, "(directory)", "not a directory")
        for path in _scenario_files(root):
            try:
                module = _import(path, root)
            except ScenarioError:
                raise
            except Exception as exc:
                raise ScenarioError(path, "(module)", f"failed to import: {type(exc).__name__}: {exc}") from exc
            found = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                     if issubclass(obj, Scenario) and obj is not Scenario and obj.__module__ == module.__name__]
            if len(found) != 1:
                raise ScenarioError(path, "(module)", f"must define exactly one Scenario subclass, found {len(found)}")
            _validate(found[0], path, id_for(path, root))
            registry.add(found[0], str(path))
    for scenario_id, cls in registry.scenarios.items():
        if cls.twin and cls.twin not in registry.scenarios:
            raise ScenarioError(registry.sources[scenario_id], "twin", f"names unknown scenario {cls.twin!r}")
    return registry
