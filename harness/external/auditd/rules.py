"""The rule files shipped with auditd as examples, read line by line, minus the lines the lab owns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.external.auditd.kernel import AuditdUnavailable

EXAMPLE_RULES = Path("/usr/share/doc/auditd/examples/rules")
# Not 71-networking: it audits every accept and connect on the host (every process, every packet
# flow's start), which floods the backlog and the log on a lab host running containers, and the
# lab's network sensors already see the connections it would report.
DEFAULT_RULE_FILES = ("30-stig.rules", "41-containers.rules", "42-injection.rules", "43-module-load.rules",
                      "44-installers.rules")

# The lab's own settings, loaded before any rule file. Not 10-base-config as shipped:
# - its --backlog_wait_time 60000 is in jiffies, 240 s at HZ=250, for which a process writing an
#   audit record would block on a full backlog; the kernel's default (60 s) stays. A lost record
#   is counted by the kernel (``lost``) and reported; a stalled host is not a lab.
# - never ``-f 2`` (panic the kernel when records are lost) and never ``-e 2`` (immutable: the rules
#   could not be removed again before a reboot).
PREAMBLE = ("-D", "-b 8192", "-f 1")
# Options a rule file may not set, as they are the lab's: enabling (-e 2 above all), the failure
# mode, deleting the rules loaded so far, buffers and rates, loginuid immutability (host-wide), and
# auditctl's own error handling flags. Such lines are left out and reported.
_LAB_OWNED_OPTIONS = frozenset({"-e", "-f", "-D", "-b", "-r", "--backlog_wait_time", "--loginuid-immutable",
                                "-c", "-i", "--reset-lost", "--reset_backlog_wait_time_actual", "--signal"})


@dataclass(frozen=True, slots=True)
class RuleLine:
    file: str  # the rule file's name ("41-containers.rules"), or "preamble"
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class RuleFailure:
    rule: RuleLine
    error: str  # what auditctl said


@dataclass(frozen=True, slots=True)
class FileLoad:
    file: str
    rules: int  # rule lines tried
    loaded: int
    stripped: int  # lines left out: options the lab owns (-e 2, -f 2, -D, ...)


@dataclass(frozen=True, slots=True)
class RuleLoad:
    """What happened to the rule files: per file, what failed and why, what was left out, and the
    rules the kernel really holds afterwards (``auditctl -l``)."""

    files: tuple[FileLoad, ...]
    failures: tuple[RuleFailure, ...]
    stripped: tuple[RuleLine, ...]
    effective: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def rule_lines(name: str, text: str) -> tuple[list[RuleLine], list[RuleLine]]:
    """A rule file's rules and the lines left out because they set what the lab owns."""
    rules: list[RuleLine] = []
    stripped: list[RuleLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        option = line.split()[0]
        (stripped if option in _LAB_OWNED_OPTIONS else rules).append(RuleLine(name, number, line))
    return rules, stripped


def read_rule_files(names: Sequence[str], rules_dir: Path = EXAMPLE_RULES) -> list[tuple[str, str]]:
    """(name, text) of each rule file, in order. Raises AuditdUnavailable naming a missing one."""
    files = []
    for name in names:
        if "/" in name or name.startswith("."):
            raise AuditdUnavailable(f"rule file {name!r}: give the name of a file in {rules_dir}, not a path")
        path = rules_dir / name
        try:
            files.append((name, path.read_text()))
        except OSError as exc:
            raise AuditdUnavailable(f"rule file {path}: {exc.strerror or exc}") from exc
    return files


