"""Changes a run makes to objects it does not own, written down before they are made.

A scenario that relabels the Swarm node undoes it in its cleanup; a run killed before its cleanup
cannot. So every such change is journalled first (``<state>/journal/<run id>.jsonl``: which node,
which label, its value before and the value the run set), and the reaper undoes a dead run's
entries, newest first, wherever the object still holds the value that run set (a later change by
someone else is theirs, and is left alone).

Containment (``lab.quarantine``) journals its records the same way, and their releases: the reaper
releases what a dead run contained and never released (``quarantine.release_journalled``) before
this module's ``undo`` removes the journal.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from lab.paths import LabPaths


def _journal(paths: LabPaths, run_id: str) -> Path:
    return paths.state / "journal" / f"{run_id}.jsonl"


def append(paths: LabPaths, run_id: str, entry: dict[str, Any]) -> None:
    """Write one entry (a dict with a ``kind``) to the run's journal."""
    path = _journal(paths, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as journal:
        journal.write(json.dumps(entry) + "\n")
        journal.flush()


def record_node_label(paths: LabPaths, run_id: str, node_id: str, key: str, before: str | None,
                      after: str | None) -> None:
    append(paths, run_id, {"kind": "swarm-node-label", "node": node_id, "key": key, "before": before, "after": after})


def entries(paths: LabPaths, run_id: str) -> list[dict[str, Any]]:
    """The run's journal, oldest first ([] when it has none or it cannot be read)."""
    try:
        return [json.loads(line) for line in _journal(paths, run_id).read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


def journalled_runs(paths: LabPaths) -> list[str]:
    directory = paths.state / "journal"
    return sorted(p.stem for p in directory.glob("*.jsonl")) if directory.is_dir() else []


def undo(client: Any, paths: LabPaths, run_id: str) -> int:
    """Undo what the run's journal says it changed and still stands; remove the journal. Returns how
    many changes were undone."""
    path = _journal(paths, run_id)
    undone = 0
    for entry in reversed(entries(paths, run_id)):
        if entry.get("kind") != "swarm-node-label":
            continue
        with contextlib.suppress(Exception):  # the node is gone, or Swarm is off: nothing to undo
            node = client.nodes.get(entry["node"])
            spec = node.attrs["Spec"]
            labels = dict(spec.get("Labels") or {})
            if labels.get(entry["key"]) != entry["after"]:
                continue  # changed again since, by someone else
            if entry["before"] is None:
                labels.pop(entry["key"], None)
            else:
                labels[entry["key"]] = entry["before"]
            node.update({**spec, "Labels": labels})
            undone += 1
    path.unlink(missing_ok=True)
    return undone
