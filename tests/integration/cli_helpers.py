"""Shared by the CLI integration tests: run `stowaway` as a user would, and check the host after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOGGING_PAIR = ("docker.logging.log-driver-none", "docker.logging.dev-minimal-logging")
LOGGING_RULE = "stowaway.docker.logging-disabled"


def stowaway_command(*args: str) -> list[str]:
    # `python -m harness.cli` is the `stowaway` entry point, run from the tree under test.
    return [sys.executable, "-m", "harness.cli", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def stowaway(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(stowaway_command(*args), cwd=ROOT, env=environment(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def scorecard(out: Path) -> dict[str, Any]:
    return json.loads((out / "scorecard.json").read_text())


def run_leftovers(run_id: str) -> dict[str, list[str]]:
    """What of a finished run is still on the host, checked with testinfra while holding a lease."""
    import pytest

    from harness.hoststate import leftovers
    from lab import EngineUnavailable
    from lab import engine as engine_mod

    lease = f"test-leftovers-{os.getpid()}"
    try:
        engine = engine_mod.acquire(lease)
    except EngineUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc}")
    try:
        return leftovers(run_id, engine.base_url)
    finally:
        engine_mod.release(engine, lease)
