"""Sessions people and CI run. `nox --list` shows them; the slow ones are not in the default run.

Everything runs as root on a machine with Docker installed (`stowaway setup` installs it); the lab
starts its own private engine, so nothing needs to be running first.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox
from nox.command import CommandFailed

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


def _install(session: nox.Session) -> None:
    session.install("-e", ".[test]")


def _host_ready(session: nox.Session) -> None:
    """Install the host packages the lab needs (apt, as root on Debian/Ubuntu), or say exactly how."""
    session.run("stowaway", "setup")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit tests, then integration tests against the real engine (the lab's private dockerd), the
    Kubernetes ones on a kind cluster of their own. The first run builds the offline kind node image
    (9-16 min on two cores, then cached); STOWAWAY_KIND=0 leaves Kubernetes out, visibly."""
    _install(session)
    _host_ready(session)
    env = {}
    if os.environ.get("STOWAWAY_KIND", "1") != "0":
        session.run("python", "-m", "lab.kind", "build")
        env["STOWAWAY_REQUIRE_KIND"] = "1"  # the node image is there now: a kind test may not skip
    session.run("pytest", "-q", "-ra", "--require-engine", *session.posargs, env=env)


@nox.session(python=PYTHON)
def unit(session: nox.Session) -> None:
    """The unit tests alone: no root, no engine, no host packages (the developer loop, about 30 s)."""
    _install(session)
    session.run("pytest", "-q", "tests/unit", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the whole project, then mypy over lab, detectors, harness and scenarios/api.py."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", "lab", "scenarios", "detectors", "harness", "tests", "noxfile.py")
    # The project itself (and pytest, which the plugin imports) so mypy resolves every import;
    # nothing here needs root or an engine. What it checks and how strictly: [tool.mypy].
    session.install("-e", ".[test]", "mypy>=2.4", "types-docker", "types-PyYAML", "types-psutil")
    session.run("mypy", *session.posargs)


@nox.session(name="purple-team", python=PYTHON)
def purple_team(session: nox.Session) -> None:
    """Every scenario: Docker and Swarm with a two-minute soak of the benign fleet beside them
    (reports/), then Kubernetes on a kind cluster (reports/kubernetes/; the first run builds the node
    image, 9-16 min). `-- --backend docker` (or kind) runs one backend; STOWAWAY_KIND=0 skips kind."""
    _install(session)
    _host_ready(session)
    args = list(session.posargs)
    # events.jsonl and run.json beside the Docker/Swarm scorecards, for `stowaway replay`. Recording a
    # kind run has not been tried yet, so the Kubernetes run does not record by default.
    record = ["--record"]
    if any(a == "--backend" or a.startswith("--backend=") for a in args):
        kind = any(a in ("kind", "kubernetes", "--backend=kind", "--backend=kubernetes") for a in args)
        session.run("stowaway", "run", "--out", "reports", "--soak", "2", *([] if kind else record), *args)
        return
    failed = []
    # Both backends run even when the first fails: the scorecards are the point.
    try:
        session.run("stowaway", "run", "--out", "reports", "--soak", "2", *record, *args)
    except CommandFailed:
        failed.append("docker")
    if os.environ.get("STOWAWAY_KIND", "1") != "0":
        session.run("python", "-m", "lab.kind", "build")
        try:
            session.run("stowaway", "run", "--backend", "kind", "--out", "reports/kubernetes", *args)
        except CommandFailed:
            failed.append("kubernetes")
    if failed:
        session.error(f"the purple-team run failed on: {', '.join(failed)} (see the scorecards under reports/)")


@nox.session(python=PYTHON)
def replay(session: nox.Session) -> None:
    """Judge every committed recorded run (tests/fixtures/runs/) again with the rules and policy of the
    working tree: no root, no engine, seconds. A lost detection or a new false positive fails it."""
    _install(session)
    failed = []
    for run_dir in sorted(p for p in Path("tests/fixtures/runs").iterdir() if (p / "run.json").is_file()):
        try:
            session.run("stowaway", "replay", str(run_dir), "--out", f"reports/replay/{run_dir.name}",
                        *session.posargs)
        except CommandFailed:
            failed.append(run_dir.name)
    if failed:
        session.error(f"replay failed on: {', '.join(failed)} (see reports/replay/)")


@nox.session(python=PYTHON, default=False)
def soak(session: nox.Session) -> None:
    """The realistic benign fleet alone under the detectors (`-- --minutes 20`); any alert fails it."""
    _install(session)
    _host_ready(session)
    session.run("stowaway", "soak", "--out", "reports", *session.posargs)


@nox.session(python=PYTHON)
def regression(session: nox.Session) -> None:
    """Run the suite with a fixed-seed set of variants (`--variants 3 --seed 1`), then gate it against the
    committed baseline scorecard: a variant detected in the baseline and missed now is a lost detection."""
    _install(session)
    _host_ready(session)
    session.run("stowaway", "run", "--out", "reports", "--variants", "3", "--seed", "1", *session.posargs,
                success_codes=[0, 1])
    session.run("python", "-m", "harness.gate", "--baseline", "harness/baseline/scorecard.json",
                "--current", "reports/scorecard.json", "--summary", "reports/gate.md")


@nox.session(python=PYTHON, default=False)
def variants(session: nox.Session) -> None:
    """Every variant of every scenario that declares dimensions (about 150 runs, several minutes), then the
    robustness gate: at least 90% of adversary runs detected, every miss named by a rule's blind spot, no
    false positive. Writes reports/variants/ and reports/robustness.json (commit it, with README after
    `python -m harness.readme`)."""
    _install(session)
    _host_ready(session)
    session.run("stowaway", "run", "--out", "reports/variants", "--variants", "all", "--seed", "1", "--varied-only",
                *session.posargs, success_codes=[0, 1])
    Path("reports/variants/robustness.md").unlink(missing_ok=True)  # --summary appends: one run's report only
    session.run("python", "-m", "harness.robustness_gate", "--scorecard", "reports/variants/scorecard.json",
                "--min", "0.9", "--summary", "reports/variants/robustness.md", "--write", "reports/robustness.json")


@nox.session(python=PYTHON, default=False)
def docs(session: nox.Session) -> None:
    """Regenerate the generated blocks in README and docs/ (catalogue, run, figures, robustness) and docs/detections."""
    _install(session)
    session.run("python", "-m", "harness.readme")
    session.run("stowaway", "docs", "--out", "docs/detections")


@nox.session(name="baseline-update", python=PYTHON, default=False)
def baseline_update(session: nox.Session) -> None:
    """Deliberately replace the committed baseline with the latest reports/scorecard.json. It must come from
    a run with `--variants 3 --seed 1` (what `nox -s regression` runs), so the gate compares the same variant rows."""
    _install(session)
    session.run("python", "-m", "harness.gate", "--baseline", "harness/baseline/scorecard.json",
                "--current", "reports/scorecard.json", "--update")


@nox.session(name="kind-image", python=PYTHON, default=False)
def kind_image(session: nox.Session) -> None:
    """Build the offline kind node image from Go modules and Debian packages (cached; a rerun builds nothing)."""
    _install(session)
    session.run("python", "-m", "lab.kind", "build", *session.posargs)


@nox.session(name="kind-e2e", python=PYTHON, default=False)
def kind_e2e(session: nox.Session) -> None:
    """Build what is missing for kind, then run every Kubernetes scenario on a real kind cluster."""
    _install(session)
    session.run("python", "-m", "lab.kind", "build")
    session.run("pytest", "-q", "-ra", "tests/integration/test_kubernetes.py", *session.posargs,
                env={"STOWAWAY_REQUIRE_KIND": "1"})


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Speed and scale figures against their targets: reports/bench.json and bench.md (slow, ~30 min)."""
    _install(session)
    session.run("python", "-m", "lab.kind", "build")  # the cluster step's node image (cached)
    session.run("python", "-m", "harness.bench", "--out", "reports", *session.posargs)


@nox.session(python=PYTHON, default=False)
def drills(session: nox.Session) -> None:
    """Faults, bad input, malformed telemetry, containment, concurrency: reports/drills.json and drills.md."""
    _install(session)
    session.run("python", "-m", "harness.drills", "--out", "reports", *session.posargs)
