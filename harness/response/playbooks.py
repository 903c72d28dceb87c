"""Response playbooks: which detectors trigger which response, automatically or on request.

One YAML file per playbook, validated like policy (a broken file is refused naming the file and the
field, before anything runs)::

    playbook: contain-egress
    about: An implant calling out: cut it off the network, keep it running for the evidence.
    triggers: [stowaway.analytic.net-beacon, stowaway.net.egress-not-allowlisted]
    mode: auto            # auto: in `stowaway run --respond`; on-request: only when asked
    contain: quarantine   # quarantine (off every network, onto an isolated one) | pause | none
    collect: true         # an evidence bundle: inspect, logs, filesystem diff, processes, flows, hashes
    priority: 20          # when several playbooks match one workload, the lowest acts (default 100)

Nothing here kills or removes a workload: containment is reversible, and the lab's run releases
what it contained before it tears the workload down. A detector id that exists nowhere is refused
(a typo would make a playbook that never triggers).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.yamlfile import FileFieldError, read_mapping, text

SHIPPED_DIR = Path(__file__).resolve().parent / "playbooks"
MODES = ("auto", "on-request")
CONTAIN = ("quarantine", "pause", "none")
# Not "on": YAML 1.1 (PyYAML) reads a bare ``on`` key as the boolean true.
_KEYS = {"playbook", "about", "triggers", "mode", "contain", "collect", "priority"}


class PlaybookError(FileFieldError):
    """A playbook file is broken. The message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Playbook:
    name: str
    triggers: tuple[str, ...]  # detector ids (Sigma rule names, analytic ids) that set it off
    mode: str
    contain: str
    collect: bool
    about: str = ""
    path: str = ""
    priority: int = 100

    def triggered_by(self, rule_id: str) -> bool:
        return rule_id in self.triggers


def load_playbook(path: Path, detector_ids: Collection[str] | None = None) -> Playbook:
    data = read_mapping(path, PlaybookError, "playbook, triggers, mode, contain and collect", _KEYS)
    name = _text(path, "playbook", data.get("playbook"))
    triggers = data.get("triggers")
    if isinstance(triggers, str):
        triggers = [triggers]
    if not isinstance(triggers, list) or not triggers:
        raise PlaybookError(path, "triggers", "must be a non-empty list of detector ids")
    rules = tuple(_text(path, f"triggers[{i}]", rule) for i, rule in enumerate(triggers))
    if detector_ids is not None:
        for i, rule in enumerate(rules):
            if rule not in detector_ids:
                raise PlaybookError(path, f"triggers[{i}]", f"names unknown detector {rule!r}")
    mode = _choice(path, "mode", data.get("mode", "auto"), MODES)
    contain = _choice(path, "contain", data.get("contain", "quarantine"), CONTAIN)
    collect = data.get("collect", True)
    if not isinstance(collect, bool):
        raise PlaybookError(path, "collect", f"must be true or false, not {collect!r}")
    about = _text(path, "about", data["about"]) if "about" in data else ""
    priority = data.get("priority", 100)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise PlaybookError(path, "priority", f"must be a whole number, not {priority!r}")
    return Playbook(name=name, triggers=rules, mode=mode, contain=contain, collect=collect, about=about, path=str(path),
                    priority=priority)


def _text(path: Path, where: str, value: Any) -> str:
    return text(path, where, value, PlaybookError)


def _choice(path: Path, where: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise PlaybookError(path, where, f"{value!r} is not one of {', '.join(allowed)}")
    return str(value)


def playbook_files(dirs: Iterable[Path] = ()) -> list[Path]:
    """The given directories' playbooks, or the shipped ones."""
    chosen = list(dirs) or [SHIPPED_DIR]
    for directory in chosen:
        if not directory.is_dir():
            raise PlaybookError(directory, "(directory)", "not a directory")
    return sorted(p for d in chosen for p in d.glob("*.yaml"))


def load_playbooks(dirs: Iterable[Path] = (), detector_ids: Collection[str] | None = None) -> list[Playbook]:
    """Every playbook; two of one name are refused (which one acts would be an accident of order)."""
    found: dict[str, Playbook] = {}
    for path in playbook_files(dirs):
        playbook = load_playbook(path, detector_ids)
        if playbook.name in found:
            raise PlaybookError(path, "playbook",
                                f"{playbook.name!r} is defined already by {found[playbook.name].path}")
        found[playbook.name] = playbook
    return list(found.values())


def first_match(playbooks: Iterable[Playbook], rule_ids: Iterable[str], mode: str = "auto") -> Playbook | None:
    """The playbook in ``mode`` that any of these detectors triggers, lowest priority first (then name)."""
    fired = set(rule_ids)
    for playbook in sorted(playbooks, key=lambda p: (p.priority, p.name)):
        if playbook.mode == mode and fired & set(playbook.triggers):
            return playbook
    return None
