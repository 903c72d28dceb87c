"""Declared variation: dimensions are validated like the rest of a scenario's metadata, sampling is
reproducible from the seed, and a variant's id says how it differs from the canonical run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.explain import explain
from scenarios.api import Expectation, Kind, Scenario
from scenarios.registry import ScenarioError, load
from scenarios.variants import Dimension, canonical, label, sample, space_size, variant_id


class Family(Scenario):
    id = "custom.family"
    title = "t"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001",)
    expect = Expectation(fires=("r",))
    description = "does a thing several ways"
    dimensions = (Dimension("mechanism", ("none", "local-tiny", "syslog-remote"), doc="how output is lost"),
                  Dimension("when", ("start", "later"), doc="at start or after the process ran a while"),
                  Dimension("port", (514, 1514), doc="where a remote driver ships to"))

    def detonate(self, lab: object) -> None:
        pass


def test_the_space_counts_every_combination_and_the_canonical_run_is_the_first_values():
    assert space_size(Family) == 12
    assert canonical(Family) == {"mechanism": "none", "when": "start", "port": 514}
    assert Family().variant == canonical(Family)


def test_sampling_is_reproducible_distinct_and_never_the_canonical_run():
    first, again, other = sample(Family, 5, seed=1), sample(Family, 5, seed=1), sample(Family, 5, seed=2)
    assert first == again and first != other
    assert len({tuple(v.items()) for v in first}) == 5 and canonical(Family) not in first
    assert len(sample(Family, None, seed=1)) == 11 == len(sample(Family, 99, seed=1))


def test_a_variant_is_named_by_what_differs():
    variant = {"mechanism": "syslog-remote", "when": "start", "port": 1514}
    assert label(variant, Family) == "mechanism=syslog-remote,port=1514"
    assert variant_id(Family, variant) == "custom.family@mechanism=syslog-remote,port=1514"
    scenario = Family()
    scenario.variant = variant
    assert scenario.variant["mechanism"] == "syslog-remote"


SCENARIO = '''
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

class Mine(Scenario):
    id = "custom.varied"
    title = "t"
    kind = Kind.ADVERSARY
    techniques = ("T1610",)
    expect = Expectation(fires=("r",))
    description = "does a thing"
    dimensions = ({dimensions},)

    def detonate(self, lab):
        pass
'''


@pytest.mark.parametrize(("dimensions", "field", "words"), [
    ('Dimension("Mechanism", ("a",), doc="d")', "dimensions[0]", "lower_snake_case"),
    ('Dimension("m", (), doc="d")', "dimensions[0]", "at least one"),
    ('Dimension("m", ("a", "a"), doc="d")', "dimensions[0]", "each value once"),
    ('Dimension("m", ("a", 1.5), doc="d")', "dimensions[0]", "a string or an integer"),
    ('Dimension("m", ("a",), doc=" ")', "dimensions[0]", "say what the dimension changes"),
    ('Dimension("m", ("a",), doc="d"), Dimension("m", ("b",), doc="d")', "dimensions[1].name", "declared twice"),
    ('"mechanism"', "dimensions[0]", "expected Dimension"),
])
def test_bad_dimensions_name_the_file_and_field(tmp_path: Path, dimensions: str, field: str, words: str):
    path = tmp_path / "custom" / "varied.py"
    path.parent.mkdir()
    path.write_text(textwrap.dedent(SCENARIO.replace("{dimensions}", dimensions)))
    with pytest.raises(ScenarioError) as info:
        load([tmp_path], include_builtin=False)
    assert info.value.field == field and words in str(info.value) and str(path) in str(info.value)


def test_explain_lists_the_dimensions(tmp_path: Path):
    path = tmp_path / "custom" / "varied.py"
    path.parent.mkdir()
    path.write_text(textwrap.dedent(SCENARIO.replace(
        "{dimensions}", 'Dimension("mechanism", ("none", "local-tiny"), doc="how output is lost")')))
    text = explain("custom.varied", load([tmp_path], include_builtin=False))
    assert "Variation (2 variants" in text and "mechanism: none, local-tiny" in text


def test_a_run_does_the_canonical_scenario_then_its_sampled_variants():
    from harness.runner import work_items

    assert work_items([Family], 0, seed=1) == [(Family, None)]
    items = work_items([Family], 2, seed=1)
    assert items[0] == (Family, None) and [v for _, v in items[1:]] == sample(Family, 2, seed=1)
    assert len(work_items([Family], None, seed=1)) == 12  # the canonical run and every other variant
