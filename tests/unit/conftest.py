"""Fixtures shared by the responder's unit tests (test_responder, test_watch_control)."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

import harness.response.responder as responder_module
from harness.response.indicators import Indicators

SINK = "198.19.0.5"


@pytest.fixture
def no_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(responder_module, "SETTLE_S", 0.0)


@pytest.fixture
def fake_evidence(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    indicators = Indicators(destinations=(f"{SINK}:443/tcp",), executables=("/usr/bin/curl",))

    def collect(client: Any, container_id: str, out_dir: Path, **kw: Any) -> Any:
        calls.append({"container": container_id, **kw})
        return types.SimpleNamespace(path=out_dir / "b.tar.gz", sha256="f" * 64, complete=True, missing=(),
                                     indicators=indicators)

    def cross_reference(_indicators: Any, _window: Any, exclude: str) -> list[Any]:
        return [types.SimpleNamespace(container_id="b" * 64, matched=[f"destination:{SINK}:443/tcp"])]

    monkeypatch.setattr("harness.response.evidence.collect", collect, raising=False)
    monkeypatch.setattr("harness.response.indicators.cross_reference", cross_reference, raising=False)
    return calls
