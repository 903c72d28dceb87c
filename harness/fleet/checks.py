"""Pure parsing of what the services leave behind (health state, logs, counters), and the rule
that turns a figure into a pass or a failure. No engine here: the tests feed these real output.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.fleet.registry import CheckFailed

# --- health ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Health:
    state: str  # "healthy", "starting", "unhealthy", or "running" / "exited" without a health check
    probes_passed: int = 0  # among the probe results the engine keeps (the last five)
    probes_failed: int = 0
    failing_streak: int = 0

    @property
    def ready(self) -> bool:
        return self.state in ("healthy", "running")

    @property
    def has_check(self) -> bool:
        return self.state in ("healthy", "starting", "unhealthy")


def health(inspect: Mapping[str, Any]) -> Health:
    """The container's health from ``docker inspect``: its health check's verdict when the image
    has one, else whether it runs at all."""
    state = inspect.get("State") or {}
    probe = state.get("Health")
    if not state.get("Running"):
        return Health(state="exited")
    if not probe:
        return Health(state="running")
    log = probe.get("Log") or []
    passed = sum(1 for entry in log if entry.get("ExitCode") == 0)
    return Health(state=str(probe.get("Status") or "starting"), probes_passed=passed,
                  probes_failed=len(log) - passed, failing_streak=int(probe.get("FailingStreak") or 0))


# --- expectations -----------------------------------------------------------------------------------


def figure(value: float) -> str:
    """12, 16000000 or 2.5: whole numbers in full, fractions as they are."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def expect_at_least(what: str, seen: float, wanted: float) -> str:
    """``what`` with its figure, or CheckFailed when the service did less than ``wanted``."""
    line = f"{what}: {figure(seen)}"
    if seen < wanted:
        raise CheckFailed(f"{line}, expected at least {figure(wanted)}")
    return line


def nominal(rate_per_s: float, seconds: float, share: float = 0.5) -> float:
    """How much of a steady job must at least show in ``seconds``: ``share`` of its nominal rate
    (two shared cores and parallel scenarios slow everything down; a stalled service shows ~0)."""
    return max(1.0, rate_per_s * seconds * share)


def first_int(text: str) -> int:
    """The first integer in a command's output (psql -At, redis-cli, wc), or CheckFailed."""
    match = re.search(r"-?\d+", text)
    if match is None:
        raise CheckFailed(f"no number in {text.strip()[:200]!r}")
    return int(match.group())


# --- logs the services write ------------------------------------------------------------------------


def status_counts(lines: str, field: int) -> Counter[str]:
    """Counts of the whitespace-separated ``field`` (0-based) over the non-empty lines."""
    counts: Counter[str] = Counter()
    for line in lines.splitlines():
        parts = line.split()
        if len(parts) > field:
            counts[parts[field]] += 1
    return counts


_UPSTREAM = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) .*?upstream_status=(?P<up>[\d-]+)')


def nginx_through(access_log: str) -> Counter[str]:
    """nginx ``upstream`` log lines by the upstream's status ("-" when nginx answered itself)."""
    counts: Counter[str] = Counter()
    for line in access_log.splitlines():
        match = _UPSTREAM.search(line)
        if match:
            counts[match.group("up")] += 1
    return counts


def redis_info(text: str) -> dict[str, str]:
    """``redis-cli INFO`` as a flat dict (sections dropped)."""
    info = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and not key.startswith("#"):
            info[key] = value
    return info


@dataclass(frozen=True, slots=True)
class Pipeline:
    number: int
    status: str  # "passed", "failed (2)", or "running"
    seconds: int | None


_PIPELINE = re.compile(r"pipeline (\d+) (started|passed|failed \(\d+\))(?: in (\d+)s)?")


def pipelines(history: str) -> list[Pipeline]:
    """The CI runner's builds.log: each pipeline's last state."""
    seen: dict[int, Pipeline] = {}
    for line in history.splitlines():
        match = _PIPELINE.search(line)
        if match is None:
            continue
        number, state, seconds = int(match.group(1)), match.group(2), match.group(3)
        seen[number] = Pipeline(number, "running" if state == "started" else state,
                                int(seconds) if seconds else None)
    return [seen[n] for n in sorted(seen)]


def logrotate_state(text: str) -> dict[str, str]:
    """logrotate's state file: log path -> when logrotate last rotated (or first saw) it."""
    state = {}
    for line in text.splitlines():
        match = re.match(r'^"(?P<path>[^"]+)" (?P<when>\S+)$', line.strip())
        if match:
            state[match.group("path")] = match.group("when")
    return state


def poll_rounds(text: str) -> tuple[int, int, int]:
    """The stock poller's log: (rounds, lookups answered, lookups failed)."""
    rounds = ok = failed = 0
    for line in text.splitlines():
        match = re.search(r"round=\d+ ok=(\d+) failed=(\d+)", line)
        if match:
            rounds += 1
            ok += int(match.group(1))
            failed += int(match.group(2))
    return rounds, ok, failed
