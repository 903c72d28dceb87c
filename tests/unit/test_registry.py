"""Scenario loading: ids follow paths, duplicates are refused, broken files name file and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scenarios.registry import ScenarioError, load

GOOD = '''
from scenarios.api import Expectation, Kind, Scenario

class Mine(Scenario):
    id = "{id}"
    title = "t"
    kind = Kind.{kind}
    techniques = {techniques}
    backends = ("docker",)
    expect = Expectation({expect})
    description = "does a thing"

    def detonate(self, lab):
        pass
'''


def scenario(root: Path, rel: str, *, id: str | None = None, kind: str = "ADVERSARY",
             techniques: str = '("T1610",)', expect: str = 'fires=("r",)') -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    sid = id if id is not None else ".".join(Path(rel).with_suffix("").parts).replace("_", "-")
    path.write_text(textwrap.dedent(GOOD.format(id=sid, kind=kind, techniques=techniques, expect=expect)))
    return path


def test_builtin_scenarios_load_and_pair_up():
    registry = load()
    ids = {s.id for s in registry.all()}
    assert "docker.logging.log-driver-none" in ids
    for cls in registry.all():
        if cls.twin:
            assert cls.twin in ids


def test_extra_directory_adds_scenarios(tmp_path):
    scenario(tmp_path, "custom/my_thing.py")
    registry = load([tmp_path])
    assert registry.get("custom.my-thing").title == "t"


def test_duplicate_id_is_refused(tmp_path):
    scenario(tmp_path, "docker/logging/log_driver_none.py")
    with pytest.raises(ScenarioError, match=r"duplicate id 'docker\.logging\.log-driver-none'"):
        load([tmp_path])


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"id": "somewhere.else"}, "id"),
    ({"techniques": '("T9999",)'}, "techniques[0]"),
    ({"techniques": "()"}, "techniques"),
    ({"techniques": '"T1610"'}, "techniques"),
    ({"kind": "BENIGN", "expect": 'fires=("r",), silent=("r",)'}, "expect.fires"),
    ({"kind": "BENIGN", "expect": ""}, "expect.silent"),
    ({"expect": ""}, "expect.fires"),
])
def test_broken_scenarios_name_file_and_field(tmp_path, kwargs, field):
    path = scenario(tmp_path, "custom/broken.py", **kwargs)
    with pytest.raises(ScenarioError) as info:
        load([tmp_path], include_builtin=False)
    assert info.value.field == field
    assert str(path) in str(info.value)


def test_import_error_names_the_file(tmp_path):
    path = tmp_path / "custom" / "bad.py"
    path.parent.mkdir()
    path.write_text("import no_such_module_here\n")
    with pytest.raises(ScenarioError, match=r"bad\.py: \(module\): failed to import"):
        load([tmp_path], include_builtin=False)


def test_missing_directory(tmp_path):
    with pytest.raises(ScenarioError, match="not a directory"):
        load([tmp_path / "nope"], include_builtin=False)


def test_select_by_tag_and_technique():
    registry = load()
    by_technique = registry.select(techniques=["T1562"])
    assert by_technique and all(any(t.startswith("T1562") for t in s.techniques) for s in by_technique)
    assert all("logging" in s.tags for s in registry.select(tags=["logging"]))


# --- may_fire: rules allowed to fire on an adversary too, each with its reason ---------------------


@pytest.mark.parametrize(("kind", "expect", "field", "words"), [
    ("ADVERSARY", 'fires=("r",), may_fire={"s": ""}', "expect.may_fire['s']", "needs a reason"),
    ("ADVERSARY", 'fires=("r",), may_fire={"s": "   "}', "expect.may_fire['s']", "needs a reason"),
    ("ADVERSARY", 'fires=("r",), may_fire={"r": "it fires"}', "expect.may_fire['r']", "also in expect.fires"),
    ("ADVERSARY", 'fires=("r",), may_fire=("s",)', "expect.may_fire", "mapping"),
    ("ADVERSARY", 'fires=("r",), may_fire={"": "why"}', "expect.may_fire", "non-empty"),
    ("BENIGN", 'silent=("r",), may_fire={"s": "it would be right"}', "expect.may_fire", "benign"),
])
def test_broken_may_fire_names_file_and_field(tmp_path, kind, expect, field, words):
    path = scenario(tmp_path, "custom/broken.py", kind=kind, expect=expect)
    with pytest.raises(ScenarioError) as info:
        load([tmp_path], include_builtin=False)
    assert info.value.field == field
    assert str(path) in str(info.value) and words in str(info.value)


def test_may_fire_loads_read_only(tmp_path):
    scenario(tmp_path, "custom/fine.py", expect='fires=("r",), may_fire={"s": "its payload really does s"}')
    cls = load([tmp_path], include_builtin=False).get("custom.fine")
    assert dict(cls.expect.may_fire) == {"s": "its payload really does s"}
    with pytest.raises(TypeError):
        cls.expect.may_fire["t"] = "sneaked in"  # type: ignore[index]


def test_builtin_may_fire_reasons_are_sentences_and_never_argv0():
    # argv0-mismatch is a known misfire being fixed in the detector: excusing it would hide it.
    for cls in load().all():
        for rule_id, reason in cls.expect.may_fire.items():
            assert rule_id != "stowaway.host.argv0-mismatch", cls.id
            assert len(reason.split()) >= 6 and reason.rstrip().endswith("."), (cls.id, rule_id, reason)
