"""The bench gaps block: every missed figure listed with its measured value and a reason whose numbers
come from the report, never from prose."""

from __future__ import annotations

from harness.bench.gaps import gaps_markdown


def figure(name: str, status: str, value: float, target: float, detail: dict | None = None) -> dict:
    return {"name": name, "status": status, "value": value, "target": target, "op": ">=", "unit": "x",
            "detail": detail or {}}


def test_a_missed_figure_is_listed_with_the_reports_own_numbers() -> None:
    text = gaps_markdown({"figures": [figure("replay.engine-vs-parse", "miss", 0.1825, 0.75, {"floor_ratio": 0.6497}),
                                      figure("latency.docker-events.p95", "pass", 0.3, 1.0)]})
    assert text.startswith("- `replay.engine-vs-parse`: 0.182 x against >= 0.75 x, missed. Why: ")
    assert "0.65x" in text and "docker-events.p95" not in text


def test_a_miss_nobody_explained_says_so_and_none_missed_says_that() -> None:
    assert "no reason is written down" in gaps_markdown({"figures": [figure("new.figure", "miss", 1.0, 2.0)]})
    assert gaps_markdown({"figures": [figure("x", "pass", 1.0, 0.5)]}).startswith("Every figure")


def test_a_figure_met_within_five_percent_is_listed_as_close() -> None:
    text = gaps_markdown({"figures": [{**figure("latency.docker-events-loaded.p95", "pass", 0.997, 1.0,
                                                {"detector_own_p95": 0.065, "load_workers": 6}), "op": "<="}]})
    assert "0.997 x against <= 1 x, met, within 5 % of the target. Why:" in text and "0.065 s p95" in text


def test_every_one_of_a_count_met_is_not_a_near_miss() -> None:
    from harness.bench.gaps import _near

    assert not _near({"status": "pass", "value": 6, "target": 6, "op": ">="})
    assert _near({"status": "pass", "value": 0.99, "target": 1.0, "op": "<="})
