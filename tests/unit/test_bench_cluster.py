"""The cluster bench's time-to-contain samples: a response that did not prove itself is infinitely slow."""

from __future__ import annotations

import math
import types

from harness.bench.cluster import _contain_samples
from harness.outcome import ResponseResult


def outcome(scenario: str, response: ResponseResult | None) -> types.SimpleNamespace:
    return types.SimpleNamespace(scenario_id=scenario, response=response)


def held(contained_at: float | None, error: str = "") -> ResponseResult:
    return ResponseResult(playbook="contain-escape", trigger="stowaway.k8s.privileged-pod", object="pod:x",
                          action="hold-pod", alert_at=100.0, contained_at=contained_at,
                          contained=contained_at is not None, released=True, error=error)


def test_each_response_is_a_sample_and_an_unproved_one_is_infinitely_slow():
    samples, failed = _contain_samples([
        outcome("a", held(100.4)), outcome("b", None), outcome("c", held(None)),
        outcome("d", held(101.0, error="LabError: pause failed"))])  # type: ignore[list-item]
    assert samples[0] == 0.4 and all(math.isinf(s) for s in samples[1:]) and len(samples) == 3
    assert failed == ["c: not proved", "d: LabError: pause failed"]
