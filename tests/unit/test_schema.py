"""The declarative policy loader: types, refusals and cross-field rules, each error naming the file
and the field path; and the policy kinds' schemas are complete enough to be their own reference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from detectors import schema
from detectors.policies import Policy, PolicyKind, load_policy, policy_kinds
from detectors.schema import Entry, PolicyError, nonempty, one_of, positive, setting

FILE = Path("/policy/p.yaml")


@dataclass(frozen=True, slots=True)
class Limits:
    cores: float | None = setting(None, check=positive)
    ports: tuple[int, ...] = setting((), each=positive)


@dataclass(frozen=True, slots=True)
class Thing(Entry):
    REFUSED: ClassVar[dict[str, str]] = {"labels": "labels are chosen by whoever starts it"}

    colours: tuple[str, ...] = setting(each=one_of(("red", "blue"), "colour"), check=nonempty("name a colour"))
    limits: Limits = setting(Limits())
    tags: dict[str, tuple[str, ...]] = setting({})
    size: int = setting(0, key="size_bytes", parse=lambda text, path: int(text.rstrip("b")))

    def validate(self, path: Path, where: str) -> None:
        if self.name == self.owner:
            raise PolicyError(path, f"{where}owner", "an entry cannot own itself")


GOOD = {"name": "a", "owner": "b", "description": "c", "colours": ["red"]}


def error(data: object) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        schema.load(Thing, data, FILE, "things[0].")
    assert caught.value.path == str(FILE)
    return caught.value


def test_a_good_entry_loads_with_its_defaults():
    thing = schema.load(Thing, {**GOOD, "limits": {"cores": 2}, "tags": {"k": ["v"]}, "size_bytes": "12b"}, FILE)
    assert thing == Thing(name="a", owner="b", description="c", colours=("red",), limits=Limits(cores=2.0),
                          tags={"k": ("v",)}, size=12)
    assert isinstance(thing.limits.cores, float)


@pytest.mark.parametrize(("data", "field", "words"), [
    ("a string", "things[0]", "expected dict"),
    ({**GOOD, "colour": ["red"]}, "things[0].colour", "unknown field"),
    ({k: v for k, v in GOOD.items() if k != "owner"}, "things[0].owner", "missing"),
    ({**GOOD, "labels": {"app": "x"}}, "things[0].labels", "chosen by whoever"),
    ({**GOOD, "colours": "red"}, "things[0].colours", "expected list"),
    ({**GOOD, "colours": [1]}, "things[0].colours[0]", "expected str"),
    ({**GOOD, "colours": ["green"]}, "things[0].colours[0]", "unknown colour 'green'"),
    ({**GOOD, "colours": []}, "things[0].colours", "name a colour"),
    ({**GOOD, "limits": {"cores": 0}}, "things[0].limits.cores", "positive"),
    ({**GOOD, "limits": {"cores": True}}, "things[0].limits.cores", "expected a number"),
    ({**GOOD, "limits": {"ports": [80, -1]}}, "things[0].limits.ports[1]", "positive"),
    ({**GOOD, "limits": {"ports": [True]}}, "things[0].limits.ports[0]", "expected int"),
    ({**GOOD, "tags": {"k": "v"}}, "things[0].tags.k", "expected list"),
    ({**GOOD, "size_bytes": "many"}, "things[0].size_bytes", "invalid literal"),
    ({**GOOD, "size_bytes": 12}, "things[0].size_bytes", "expected str"),
    ({**GOOD, "owner": "a", "name": "a"}, "things[0].owner", "cannot own itself"),
])
def test_every_error_names_the_field(data, field, words):
    caught = error(data)
    assert caught.field == field
    assert words in str(caught)


def test_the_shipped_schemas_document_every_field():
    """docs/policy.md is generated from these docs: a field without one would be a blank row."""
    undocumented = []
    for kind in policy_kinds().values():
        if not kind.__module__.startswith("detectors."):
            continue
        root = getattr(kind, "file_schema", kind)
        for cls in (root, *schema.nested(root)):
            undocumented += [f"{cls.__name__}.{s.key}" for s in schema.settings(cls) if not s.doc]
    assert not undocumented


@dataclass(slots=True)
class _Budget(PolicyKind):
    kind: ClassVar[str] = "budget-test"
    names: tuple[str, ...] = setting((), doc="names")
    limit: int = setting(1, doc="the limit")


def test_files_of_one_kind_add_up(tmp_path):
    section = _Budget()
    section.load({"kind": "budget-test", "names": ["a"], "limit": 5}, tmp_path / "a.yaml")
    section.load({"kind": "budget-test", "names": ["b"]}, tmp_path / "b.yaml")
    assert section.names == ("a", "b") and section.limit == 5  # b.yaml did not reset what it did not give


def test_egress_volume_keys_given_in_different_files_both_hold(tmp_path):
    (tmp_path / "a.yaml").write_text("kind: egress\nvolume: {budget_bytes: 4096}\n")
    (tmp_path / "b.yaml").write_text("kind: egress\nvolume: {window_s: 30}\n")
    egress = load_policy([tmp_path]).section("egress")
    assert (egress.volume_budget_bytes, egress.volume_window_s) == (4096, 30.0)


def test_the_strictest_log_retention_minimum_holds(tmp_path):
    for name, size in (("a", "4m"), ("b", "1m")):
        (tmp_path / f"{name}.yaml").write_text(f"kind: log_retention\nminimum_local_log: {size}\nowner: o\n"
                                               "description: d\n")
    assert load_policy([tmp_path]).section("log_retention").minimum_bytes == 4 * 1024**2


def test_an_empty_policy_enriches_nothing():
    event = {"container.logging.driver": "none"}
    assert Policy().enrich(dict(event)) == event
