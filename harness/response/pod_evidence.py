"""Evidence of a Kubernetes pod, in the same archive format as a container's (``evidence``).

A pod's containers live in its node's containerd, not on the lab's engine, so the engine's views
(inspect, diff, the process tree under /proc) are not the ones to ask. What is collected instead,
each member independent (a failure costs that member, recorded as a gap):

- ``pod.json``: the pod as the API server has it (spec, status, the node it runs on);
- ``logs.txt``: its containers' output as the kubelet keeps it (``kubectl logs --all-containers``);
- ``tasks.json``: each container's task on its node (``ctr task ls``) and the node's view of its
  processes (``ctr task ps``: pids in the node's pid namespace);
- ``events.jsonl`` and ``flows.json``: the window's events of its containers, as for a container;
- ``traffic.pcap``: the frames from or to its pod address in the window (the packet ring);
- ``audit.jsonl``: the API server's audit entries about the pod (its create, exec and attach into
  it, the hold's own label patch), read from the cluster's audit log when the lab has it;
- ``diff.json``: each container's filesystem diff against its image (container id -> entries in the
  engine's diff shape), read from its overlay's upper directory on the node (``pod_diff``);
- ``dropped-files.json``: sha256 of the files it ran from outside its image, added or changed, as
  the container sees them, chosen and limited as for a container (each entry names its container);
- ``alert.json``, ``indicators.json`` and ``manifest.json`` (member checksums, gaps, notes).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import orjson

from harness.response.evidence import (
    FORMAT,
    MANIFEST,
    MAX_FILE_BYTES,
    MAX_FILES,
    EvidenceBundle,
    EvidenceError,
    Gap,
    Member,
    _dropped_files,
    _json,
    _safe,
    _sha256_file,
    _write_archive,
)
from harness.response.indicators import indicators_of
from harness.response.pod_diff import PodFiles
from harness.response.window import EventWindow, flows_from


def collect_pod(cluster: Any, record: Any, out_dir: Path, *, window: EventWindow, alert: dict[str, Any],
                since: float, packets: Any = None, until: float | None = None) -> EvidenceBundle:
    """One archive of the pod a hold record names (``lab.pod_hold``: namespace, name, node,
    containers, ip in ``record.before``).

    Raises:
        EvidenceError: the archive could not be written.
    """
    started = time.time()
    b = record.before
    members: dict[str, bytes] = {}
    gaps: list[Gap] = []
    notes: list[str] = []

    def member(name: str, read: Callable[[], bytes]) -> None:
        try:
            members[name] = read()
        except Exception as exc:  # each member is independent: the bundle says what it lacks and why
            gaps.append(Gap(name, f"{type(exc).__name__}: {exc}", False))

    member("pod.json", lambda: _json(json.loads(cluster.run("get", "pod", "-n", b["namespace"], b["name"],
                                                            "-o", "json").stdout)))
    member("logs.txt", lambda: cluster.run("logs", "-n", b["namespace"], b["name"], "--all-containers",
                                           "--timestamps", timeout=60).stdout.encode())
    member("tasks.json", lambda: _json(_tasks(cluster, b["node"], b["containers"])))
    until_at = time.time() if until is None else until
    events = [e for container in b["containers"] for e in window.events_for(container, since, until_at)]
    events.sort(key=lambda e: float(e.get("event.created") or 0))
    members["events.jsonl"] = b"".join(orjson.dumps(e, default=str, option=orjson.OPT_APPEND_NEWLINE) for e in events)
    members["flows.json"] = _json([f.to_dict() for f in flows_from(events)])
    members["alert.json"] = _json(alert)
    _pcap(members, gaps, notes, packets, [b["ip"]] if b.get("ip") else [], since, until_at)
    _audit(members, gaps, getattr(cluster, "audit_log", None), b["namespace"], b["name"])
    _files(members, gaps, notes, cluster, b["node"], b["containers"], events)
    indicators = indicators_of(members)
    members["indicators.json"] = _json(indicators.to_dict())
    listed = [Member(name, len(data), hashlib.sha256(data).hexdigest()) for name, data in members.items()]
    complete = not any(not g.inherent for g in gaps)
    manifest = {"format": FORMAT, "pod": {k: b.get(k) for k in ("namespace", "name", "node", "containers", "ip")},
                "alert": {"rule_id": alert.get("rule_id"), "object": alert.get("object")},
                "collected_at": started, "finished_at": time.time(), "window": {"since": since, "until": until_at},
                "members": [m.to_dict() for m in listed], "missing": [g.to_dict() for g in gaps], "notes": notes,
                "complete": complete}
    manifest_bytes = _json(manifest)
    stem = f"{_safe(str(alert.get('rule_id') or 'alert'))}-pod-{record.ref.removeprefix('pod:')[:12]}-{int(started)}"
    try:
        path = _write_archive(out_dir, stem, [*members.items(), (MANIFEST, manifest_bytes)], started)
    except OSError as exc:
        raise EvidenceError(f"could not write the evidence bundle in {out_dir}: {exc}") from exc
    listed.append(Member(MANIFEST, len(manifest_bytes), hashlib.sha256(manifest_bytes).hexdigest()))
    return EvidenceBundle(path=path, sha256=_sha256_file(path), members=listed, missing=[str(g) for g in gaps],
                          indicators=indicators, complete=complete, container_id=",".join(b["containers"]),
                          collected_at=started, duration_s=round(time.time() - started, 3),
                          size=path.stat().st_size, gaps=gaps)


def _tasks(cluster: Any, node: str, containers: list[str]) -> dict[str, Any]:
    from lab import pod_task_states

    out: dict[str, Any] = {"node": node, "tasks": pod_task_states(cluster, node, containers), "processes": {}}
    for container in containers:
        result = cluster.node_exec(node, ["ctr", "-n", "k8s.io", "task", "ps", container])
        out["processes"][container] = result.output.splitlines()[1:] if result.exit_code == 0 else result.output
    return out


def _files(members: dict[str, bytes], gaps: list[Gap], notes: list[str], cluster: Any, node: str,
           containers: list[str], events: list[dict[str, Any]]) -> None:
    """diff.json and dropped-files.json, container by container; one that cannot be read is a gap."""
    diffs: dict[str, list[dict[str, Any]]] = {}
    dropped: dict[str, Any] = {"files": [], "not_examined": 0}
    for container in containers:
        files = PodFiles(cluster, node, container)
        try:
            diffs[container] = files.read_diff()
        except Exception as exc:  # one container's diff must not cost the others, nor the bundle
            gaps.append(Gap("diff.json", f"{container[:12]}: {type(exc).__name__}: {exc}", False))
            continue
        own = [e for e in events if e.get("container.id") == container]
        chosen = json.loads(_dropped_files(files, diffs[container], own, MAX_FILES, MAX_FILE_BYTES))
        dropped["limits"] = chosen["limits"]
        dropped["files"] += [dict(f, container=container) for f in chosen["files"]]
        dropped["not_examined"] += chosen["not_examined"]
        notes.extend(files.notes)
    if diffs:
        members["diff.json"] = _json(diffs)
        members["dropped-files.json"] = _json(dropped)


def _audit(members: dict[str, bytes], gaps: list[Gap], audit_log: Path | None, namespace: str, name: str) -> None:
    """The audit log's entries whose object is the pod (or a subresource of it: exec, attach, log)."""
    if audit_log is None or not Path(audit_log).exists():
        gaps.append(Gap("audit.jsonl", "the cluster's audit log is not where the lab can read it", True))
        return
    kept = []
    with open(audit_log, "rb") as lines:
        for line in lines:
            if name.encode() not in line:  # cheap: most entries are about other objects
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            ref = (entry.get("objectRef") or {}) if isinstance(entry, dict) else {}
            if ref.get("resource") == "pods" and ref.get("namespace") == namespace and ref.get("name") == name:
                kept.append(line if line.endswith(b"\n") else line + b"\n")
    members["audit.jsonl"] = b"".join(kept)


def _pcap(members: dict[str, bytes], gaps: list[Gap], notes: list[str], packets: Any, addresses: Collection[str],
          since: float, until: float) -> None:
    if packets is None or not addresses:
        why = "no packet capture ran beside this response" if packets is None else "the pod had no address"
        gaps.append(Gap("traffic.pcap", why, True))
        return
    cut = packets.slice(addresses, since, until)
    members["traffic.pcap"] = cut.pcap
    notes.append(f"traffic.pcap: {cut.packets} frame(s) from or to {', '.join(addresses)} on the lab bridges (a "
                 "pod's egress leaves masqueraded as its node's address, and traffic between pods on one node "
                 "never crosses them: measured, a pod that called the lab internet had no frame here)")
