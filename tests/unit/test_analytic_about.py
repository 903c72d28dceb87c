"""An analytic declares what it is once (``About``), checked when its class is defined."""

from __future__ import annotations

import pytest

from detectors.analytics import FACTORIES
from detectors.analytics.base import About, AnalyticBase

GOOD = About(rule_id="acme.analytic.x", title="X", severity="high", techniques=("T1496",), response="look",
             data_sources=("packets",))


@pytest.mark.parametrize(("change", "words"), [
    ({"severity": "urgent"}, "severity 'urgent'"),
    ({"techniques": ("1496",)}, "'1496' is not an ATT&CK id"),
    ({"techniques": ()}, "techniques is empty"),
    ({"data_sources": ()}, "data_sources is empty"),
])
def test_a_bad_declaration_stops_the_class_being_defined(change, words):
    about = About(**{**{f: getattr(GOOD, f) for f in GOOD.__dataclass_fields__}, **change})
    with pytest.raises(TypeError, match=words):
        type("Bad", (AnalyticBase,), {}, about=about)


def test_the_declaration_becomes_the_class_attributes_the_engine_reads():
    cls = type("Good", (AnalyticBase,), {"__module__": __name__}, about=GOOD)
    assert (cls.rule_id, cls.severity, cls.techniques) == ("acme.analytic.x", "high", ("T1496",))
    assert cls.description == (__doc__ or "").strip()  # undeclared: the defining module's docstring
    assert cls().tick(0.0) == []  # a base tick keeps no time


def test_every_shipped_analytic_declares_itself():
    assert all(issubclass(f, AnalyticBase) and f.rule_id.startswith("stowaway.analytic.") for f in FACTORIES)
