"""Host-state checks with testinfra: after a scenario or a run, nothing of it is left on the host.

What the lab may leave, and where this looks (testinfra's ``local://`` host, so the same checks
work on a CI runner or, with another host spec, on a remote lab machine):

* containers carrying the run label (``docker ps`` against the lab's engine), and the scenario's
  own container ids;
* host iptables rules whose comment is ``stowaway:<run id>`` (every table);
* tracefs instances named ``stowaway-<run id>*``;
* (the whole lab only) a private auditd still running, by its pid file;
* the run's lab-owned host directory (markers, stand-in system files), or, for one scenario, the
  host directories it made (``hostdir:<path>`` refs: their names are random, never the scenario's).

Checks are scoped to one run id, because other runs may share the engine and the host at the
same time; ``run_id=None`` checks for anything of the lab at all (a quiet CI runner after the suite).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import Any

from lab import IPTABLES_COMMENT_PREFIX, RUN_LABEL, TRACEFS_INSTANCE_PREFIX, LabPaths

TRACEFS_INSTANCES = ("/sys/kernel/tracing/instances", "/sys/kernel/debug/tracing/instances")
TABLES = ("filter", "nat", "mangle", "raw")


def local_host() -> Any:
    import testinfra

    return testinfra.get_host("local://")


def _docker(host: Any, engine_url: str, *args: str) -> Any:
    return host.run("docker -H " + " ".join(shlex.quote(a) for a in (engine_url, *args)))


def leftovers(run_id: str | None, engine_url: str | None = None, objects: Iterable[str] = (),
              host: Any = None, paths: LabPaths | None = None, scope: str | None = None) -> dict[str, list[str]]:
    """What of ``run_id`` (or of the whole lab, for None) is still on the host; {} when clean.

    ``engine_url`` enables the container checks (the caller must hold a lease on a private engine).
    ``objects`` are refs from an Outcome ("container:<id>", "hostdir:<path>"), checked one by one.
    ``scope`` (usually the scenario id) narrows the check to one scenario inside a live run: its
    objects only, since the run's sinkhole, guard rules and sensors are still up.
    """
    host = host or local_host()
    paths = paths or LabPaths.default()
    objects = list(objects)
    found: dict[str, list[str]] = {}
    comment = IPTABLES_COMMENT_PREFIX + (run_id or "")
    tracefs = TRACEFS_INSTANCE_PREFIX + (run_id or "")

    scenario_only = scope is not None  # a live run keeps its sinkhole, guard rules and sensors
    if engine_url:
        if not scenario_only:
            label = f"label={RUN_LABEL}" + (f"={run_id}" if run_id else "")
            listed = _docker(host, engine_url, "ps", "-aq", "--no-trunc", "--filter", label)
            if listed.stdout.strip():
                found["containers"] = listed.stdout.split()
        for ref in objects:
            kind, _, ident = ref.partition(":")
            if kind == "container" and _docker(host, engine_url, "inspect", "--format", "{{.Id}}", ident).rc == 0:
                found.setdefault("objects", []).append(ref)

    if not scenario_only:
        rules = []
        for table in TABLES:
            try:
                table_rules = host.iptables.rules(table)
            except Exception:  # a table the kernel lacks (raw without its module) holds nothing of ours
                continue
            rules += [f"{table}: {r}" for r in table_rules if comment in r]
        if rules:
            found["iptables"] = rules
        for base in TRACEFS_INSTANCES:
            instances = host.file(base)
            if instances.exists and instances.is_directory:
                names = [n for n in instances.listdir() if n.startswith(tracefs)]
                if names:
                    found["tracefs"] = names
                break

    if run_id is None:
        # The auditd a run grades (--alerts-from auditd) removes its pid file when it stops; one left
        # means a daemon still registered with the kernel. It is one per host, not per run, so only
        # the whole-lab check can tell whose it is not.
        pid_file = paths.runtime / "auditd" / "auditd.pid"
        if host.file(str(pid_file)).exists:
            found["auditd"] = [str(pid_file)]

    directory = paths.host_root / run_id if run_id else paths.host_root
    if scope is not None:
        # A scenario's host directories are named at random (the scope name is the scenario id,
        # which must not be on the host): the scope reports them as objects.
        dirs = [ref.partition(":")[2] for ref in objects if ref.startswith("hostdir:")]
        dirs = [d for d in dirs if host.file(d).exists]
        if dirs:
            found["host_dir"] = dirs
        return found
    target = host.file(str(directory))
    if target.exists and (run_id or target.listdir()):
        found["host_dir"] = [str(directory)]
    return found
