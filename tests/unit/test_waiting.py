"""lab.waiting.poll: the one wait-until loop."""

from __future__ import annotations

import itertools

from lab import poll


def test_returns_the_first_truthy_answer():
    answers = iter([None, 0, "", "found", "later"])
    assert poll(lambda: next(answers), timeout=5, interval=0.001) == "found"


def test_times_out_with_none_after_one_last_look():
    calls = itertools.count()
    assert poll(lambda: next(calls) < 0, timeout=0.05, interval=0.01) is None
    assert next(calls) >= 2  # looked at least at the start and once the deadline had passed


def test_a_condition_met_at_the_deadline_is_not_a_timeout():
    now = iter([0.0, 0.0, 0.0, 10.0])  # start, first look, its sleep; the deadline (5 s) passed by the second
    looks = iter([False, True])
    assert poll(lambda: next(looks), timeout=5, interval=0.001, clock=lambda: next(now)) is True


def test_give_up_stops_early():
    calls = itertools.count()
    assert poll(lambda: False, timeout=60, interval=0.001, give_up=lambda: next(calls) >= 3) is None
