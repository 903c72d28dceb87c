"""``stowaway enrich``: the policy enrichment as an ingest-pipeline stage, for a SIEM that runs the
converted rules.

The converted Sigma rules read ``policy.*`` fields (docs/sigma.md); the policy that writes them is
code, not a lookup table (signatures verified against the pipeline's key, destinations placed in
zones by CIDR, sanctions bound to provenance), so it cannot be exported as a table an ingest
pipeline loads. What can be handed to one is the enrichment itself: this reads ECS-shaped events as
JSON lines (from stdin or files), runs every section of the policy on each, exactly as the
detection engine's ``Policy.enrich`` does, and writes each event back out with its ``policy.*``
fields, one line each, in order. An ingest pipeline runs it as a process stage (Vector's ``exec``
source, Logstash's ``pipe`` output into a second pipeline, Fluent Bit's ``exec``).

Which platform facts the policy asks about (the signing key and signatures, the network inventory):
the lab's published ones on this host by default, or those recorded with a run (``--platform
RUN_DIR``, what ``stowaway run --record`` wrote), or none (``--no-platform``: every image is then
unsigned and every network unknown, said on stderr).

A line that is not a JSON object is not passed through: it is counted and named on stderr with its
line number, and the exit code is 1 when any was (0 otherwise), so a pipeline sees the loss.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from harness.jsonlines import objects

MAX_REPORTED = 20  # unreadable lines named on stderr; the rest only counted


def load(policy_dirs: Sequence[Path], platform: str, scratch: Path) -> tuple[Any, str]:
    """The policy (shipped or given) with the chosen platform facts; and what those facts are, in words.

    Raises:
        PolicyError: a policy file is broken (names the file and field).
        RecordingError: ``--platform RUN_DIR`` is no recorded run.
    """
    from detectors.policies import DEFAULT_POLICY_DIR, load_policy
    from harness.replay import load_run, publish
    from lab import LabPaths

    dirs = list(policy_dirs) or [DEFAULT_POLICY_DIR]
    if platform == "lab":
        published = LabPaths.default().published_policy
        if published.is_dir() and any(published.glob("*.yaml")):
            return load_policy([*dirs, published]), f"the lab's published platform facts ({published})"
        return load_policy(dirs), (f"no platform facts: the lab has published none on this host ({published}); "
                                   "every image is unsigned and every network unknown")
    if platform == "none":
        return load_policy(dirs), "no platform facts (--no-platform): every image is unsigned, every network unknown"
    run = load_run(Path(platform))
    if run.platform is None:
        return load_policy(dirs), f"no platform facts: {platform} recorded none"
    return load_policy([*dirs, publish(run.platform, scratch)]), f"the platform facts recorded in {platform}"


def enrich_lines(lines: Iterable[bytes], policy: Any, out: IO[bytes], err: IO[str], where: str) -> tuple[int, int]:
    """Enrich each JSON-object line into ``out``; (events written, lines refused)."""
    written = refused = 0
    for number, event, why in objects(lines):
        if event is None:
            refused += 1
            if refused <= MAX_REPORTED:
                err.write(f"enrich: {where}:{number}: {why}; not passed on\n")
            continue
        policy.enrich(event)
        out.write(orjson.dumps(event, default=str, option=orjson.OPT_APPEND_NEWLINE))
        written += 1
    return written, refused


def main(files: Sequence[Path], policy_dirs: Sequence[Path], platform: str,
         out: IO[bytes] | None = None, err: IO[str] | None = None) -> int:
    out = out or sys.stdout.buffer
    err = err or sys.stderr
    with tempfile.TemporaryDirectory(prefix="stowaway-enrich-") as scratch:
        policy, facts = load(policy_dirs, platform, Path(scratch))
        err.write(f"enrich: {len(policy.sections)} policy section(s), {facts}\n")
        written = refused = 0
        for path in files or [Path("-")]:
            if str(path) == "-":
                w, r = enrich_lines(sys.stdin.buffer, policy, out, err, "stdin")
            else:
                with open(path, "rb") as handle:
                    w, r = enrich_lines(handle, policy, out, err, str(path))
            written, refused = written + w, refused + r
        out.flush()
    err.write(f"enrich: {written} event(s) written, {refused} line(s) refused\n")
    return 1 if refused else 0
