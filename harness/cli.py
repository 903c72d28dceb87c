"""The ``stowaway`` command.

    stowaway list [--kind K] [--backend B] [--technique T] [--tactic T] [--tag T] [--json]
                                       scenarios, ATT&CK ids and tactics, kind, backends, twin
    stowaway run [IDS] [--tag T] [--technique T] [--backend docker|swarm|kind] [--parallel N]
                 [--scenarios DIR] [--rules DIR] [--policy DIR] [--out reports] [--docker-host URL]
                 [--allow-skips] [--soak MINUTES] [--variants K|all] [--seed S] [--varied-only]
                 [--dry-run] [--record] [--alerts-from SOURCE] [--detector-map FILE]
    stowaway replay RUN_DIR [--rules DIR] [--policy DIR] [--out DIR] [--allow-skips]
                                       judge a recorded run (run --record) again: no lab, engine or root
    stowaway explain-alert RUN_DIR [ALERT] [--json] [--events N] [--policy DIR]
                                       one alert of a recorded run with its triage context (workload, deployer,
                                       activity, related alerts, what could make it benign); no ALERT: list them
    stowaway validate [--scenarios DIR] [--rules DIR] [--policy DIR] [--detector-map FILE]
                                       check scenarios, rules, policies, plugins and detector mappings
    stowaway soak [--minutes N] [--out reports]   the realistic benign fleet alone, N minutes under watch
    stowaway lab up|down|status        keep the private engine warm between runs, or look at it
    stowaway reap                      remove what dead runs left behind (kept detonations are live: left alone)
    stowaway detonate ID [--keep] [--backend docker|swarm] [--docker-host URL]
                                       one scenario (or variant) with the detectors attached: its alerts and
                                       verdict; --keep leaves its objects up for inspection until `revert`
    stowaway revert ID                 undo a kept detonation: the scenario's revert, every object of its run
    stowaway report [--from FILE]      re-render every format from an existing scorecard.json
    stowaway explain ID                what a scenario does, what must fire or stay silent, and why
    stowaway watch [--duration S]      the detectors on a live engine, alerts as JSON lines on stdout
    stowaway docs [--out DIR]          Alerting & Detection Strategy documents for every detector
    stowaway gate                      compare reports/scorecard.json with the committed baseline
    stowaway baseline update           accept reports/scorecard.json as the new baseline, on purpose
    stowaway setup [--check]           install (Debian/Ubuntu, root) or name the host packages the lab needs
    stowaway completion bash           a bash completion script (source <(stowaway completion bash))

Exit status: 0 pass, 1 fail (a scenario missed, a false positive (on a twin, in the soak, or an
adversary's unlisted collateral), an error, a skip without --allow-skips, a soak service not doing
its job, the gate failed), 2 bad input (unknown id, a broken scenario, rule, policy or scorecard
file: one line names the file and the field, and nothing is started), 130/143 interrupted (teardown
still ran).

Progress lines are coloured on a terminal only, and never when NO_COLOR is set to a non-empty value
(https://no-color.org); nothing else the command prints carries an escape code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detectors.policies import DEFAULT_POLICY_DIR, PolicyError, load_policy
from detectors.sigma import SigmaRuleError
from harness.external.mapping import DetectorMapping, MappingError
from harness.outcome import RunResult, SoakResult, Verdict
from harness.response.playbooks import Playbook, PlaybookError
from harness.scorecard.json_report import ScorecardFormatError

if TYPE_CHECKING:  # the CLI imports scenarios only when a command needs them
    from harness.external.sources import AlertSource
    from scenarios.api import Scenario
    from scenarios.registry import Registry

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
EXIT_SIGINT, EXIT_SIGTERM = 130, 143
DEFAULT_OUT = Path("reports")
DEFAULT_BASELINE = Path(__file__).resolve().parent / "baseline" / "scorecard.json"


class BadInput(Exception):
    """Input the command refuses before starting anything; the message names the file and field."""


# --- shared options --------------------------------------------------------------------------------


def _dirs(parser: argparse.ArgumentParser, scenarios: bool = True, detectors: bool = True) -> None:
    if scenarios:
        parser.add_argument("--scenarios", action="append", type=Path, default=[], metavar="DIR",
                            help="also load scenarios from DIR (repeatable); ids are paths under DIR")
    if detectors:
        parser.add_argument("--rules", action="append", type=Path, default=[], metavar="DIR",
                            help="Sigma rule directory instead of the shipped one (repeatable)")
        parser.add_argument("--policy", action="append", type=Path, default=[], metavar="DIR",
                            help="policy directory instead of the shipped one (repeatable)")


def _mappings_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detector-map", action="append", type=Path, default=[], metavar="FILE",
                        help="a detector mapping file (which of a tool's rules should fire for which scenario); "
                             "replaces a shipped one for the same detector (repeatable)")


def _playbooks_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--playbooks", action="append", type=Path, default=[], metavar="DIR",
                        help="response playbook directory instead of the shipped one (repeatable)")


def _engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docker-host", metavar="URL",
                        help="use this engine instead of the lab's private one (also DOCKER_HOST)")


def _version() -> str:
    """The installed distribution's version (pyproject.toml), and the ATT&CK version the catalogue pins."""
    from importlib.metadata import PackageNotFoundError, version

    from scenarios.attack import catalog

    try:
        mine = version("stowaway")
    except PackageNotFoundError:
        mine = "(not installed)"
    return f"{mine} (ATT&CK v{catalog().version})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stowaway", description="Purple-team lab: adversaries hiding in containers, real detections.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 pass, 1 fail, 2 bad input (nothing started)\n"
               "colour: progress lines on a terminal only, never with NO_COLOR set (non-empty)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="scenarios with their ATT&CK ids, kind, backends and twin")
    _dirs(p, detectors=False)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--kind", choices=("adversary", "benign"), help="only adversaries, or only benign twins")
    p.add_argument("--backend", choices=("docker", "swarm", "kubernetes"), help="only scenarios that run there")
    p.add_argument("--technique", action="append", default=[], metavar="TECHNIQUE",
                   help="only this ATT&CK technique; T1562 also selects T1562.001 (repeatable)")
    p.add_argument("--tactic", action="append", default=[], metavar="TACTIC",
                   help="only scenarios whose techniques serve this ATT&CK tactic: short name, name or id "
                        "(defense-evasion, 'Defense Evasion', TA0005; repeatable: any of them)")
    p.add_argument("--tag", action="append", default=[], help="only scenarios with this tag (repeatable)")

    p = sub.add_parser("run", help="run scenarios with the detectors attached and write the scorecards")
    p.add_argument("ids", nargs="*", metavar="ID", help="scenario ids (default: every scenario)")
    p.add_argument("--tag", action="append", default=[], help="only scenarios with this tag (repeatable)")
    p.add_argument("--technique", action="append", default=[], metavar="TECHNIQUE",
                   help="only scenarios of this ATT&CK technique; T1562 also selects T1562.001 (repeatable)")
    p.add_argument("--backend", choices=("docker", "swarm", "kubernetes", "kind"), default="docker",
                   help="kind: a kind cluster of the run's own on the lab engine; kubernetes: the same, or the "
                        "cluster STOWAWAY_KUBECONFIG names")
    p.add_argument("--parallel", type=int, default=6, metavar="N",
                   help="scenarios at once (those not parallel-safe run alone after them)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="where the scorecards go")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--allow-skips", action="store_true",
                   help="exit 0 even when scenarios were skipped (each is still listed with its reason); "
                        "without it a skip fails the run")
    p.add_argument("--soak", type=float, default=None, metavar="MINUTES",
                   help="also run the realistic benign fleet beside the scenarios for at least this long "
                        "(until the scenarios are done); every alert on it is a false positive")
    p.add_argument("--variants", default="0", metavar="K|all",
                   help="also run K sampled variants of each scenario that declares dimensions (all: every "
                        "one); the scorecard gets a robustness section")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="what the variants are drawn from (reproducible)")
    p.add_argument("--varied-only", action="store_true",
                   help="only the selected scenarios that declare dimensions (the ones --variants varies)")
    p.add_argument("--dry-run", action="store_true",
                   help="check the input and print what would run (each scenario and variant, its kind and "
                        "backend), then exit 0; no lab, engine or detector is started")
    p.add_argument("--record", action="store_true",
                   help="also write the run's raw events (events.jsonl) and what judging them again needs "
                        "(run.json) beside the scorecards, for `stowaway replay`")
    p.add_argument("--alerts-from", action="append", default=[], metavar="SOURCE",
                   help="also grade another detector on the same scenarios: NAME=file:PATH (JSON lines it "
                        "writes), NAME=http:[127.0.0.1:]PORT (a loopback receiver it posts to), or auditd "
                        "(Debian's auditd run by the lab with its example rules; auditd=auditd:FILE,... picks "
                        "them). NAME's mapping file gives the format (repeatable)")
    _mappings_option(p)
    p.add_argument("--respond", action="store_true",
                   help="act on each detected adversary with the auto playbook its alerts trigger: contain, prove "
                        "it, collect evidence (OUT/evidence/), cross-reference, release and prove that too")
    _playbooks_option(p)
    _dirs(p)
    _engine_option(p)

    p = sub.add_parser("replay", help="judge a recorded run again with today's (or given) rules and policy",
                       description="Read RUN_DIR/events.jsonl and RUN_DIR/run.json (written by `stowaway run "
                                   "--record`), enrich the events with the policy, run the rules and analytics "
                                   "on the recorded clock, judge every outcome again and write the scorecards. "
                                   "No lab, engine or root is needed.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="where the scorecards go "
                   "(default: RUN_DIR/replay)")
    p.add_argument("--allow-skips", action="store_true", help="exit 0 even when the recorded run had skips")
    _dirs(p, scenarios=False)

    p = sub.add_parser("explain-alert", help="one alert of a recorded run with what an analyst needs to triage it",
                       description="Read RUN_DIR (written by `stowaway run --record`) and, for ALERT, print the "
                                   "workload as the telemetry saw it, who or what deployed it, its process, network "
                                   "and file events around the alert, the other alerts on it and on its image, and "
                                   "what could make it benign (the rule's false positives, the policy fields it "
                                   "reads, the sanctions and whether the events show what they need). Alerts come "
                                   "from RUN_DIR/scorecard.json, else from a replay. Without ALERT, list the run's "
                                   "alerts. No lab, engine or root is needed.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the recorded run; with --live, the watch's alert id")
    p.add_argument("alert", nargs="?", default=None, metavar="ALERT",
                   help="an index from the list, or RULE_ID@OBJECT (container:<id>, 12 characters of the id are "
                        "enough)")
    p.add_argument("--live", action="store_true",
                   help="ask the running `stowaway watch` about its alert RUN_DIR (the id on its alert line)")
    p.add_argument("--watch", metavar="WATCH_ID", help="with --live: which watch, when several run")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--events", type=int, default=8, metavar="N", help="at most N events of each kind (default 8)")
    p.add_argument("--policy", action="append", type=Path, default=[], metavar="DIR",
                   help="ask this policy directory instead of the shipped one what could make the alert benign "
                        "(a draft sanction, say; repeatable)")

    p = sub.add_parser(
        "validate", help="check scenarios, rules, policies and installed plugins without running anything",
        description="Load every scenario (built-in, installed packs, --scenarios DIRs) and check its "
                    "expectations name rules that exist; load the Sigma rules and the analytics; load the "
                    "policies; load the installed plugins. Exit 0 when all is well, 2 naming the file and the "
                    "field of the first problem of each kind: scenarios, rules, policies, plugins, and the detector "
                    "mapping files (shipped, and --detector-map), and the response playbooks.")
    _mappings_option(p)
    _playbooks_option(p)
    _dirs(p)

    p = sub.add_parser("soak", help="run the realistic benign fleet alone under the detectors; any alert fails")
    p.add_argument("--minutes", type=float, default=10.0, metavar="N", help="how long the fleet runs under watch")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="where the scorecards go")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    _dirs(p, scenarios=False)
    _engine_option(p)

    p = sub.add_parser("lab", help="keep the lab engine up between runs, tear it down, or show its state")
    p.add_argument("action", choices=("up", "down", "status"))
    _engine_option(p)

    p = sub.add_parser("reap", help="remove what dead runs left behind (live runs are never touched)")
    _engine_option(p)

    p = sub.add_parser("detonate", help="detonate one scenario (or variant) with the detectors attached and print "
                                        "its alerts and verdict; --keep leaves its objects for inspection",
                       description="Bring the lab up, attach the detectors, detonate ID (a scenario id, or a variant "
                                   "id such as docker.logging.log-driver-none@driver=syslog), print its alerts and "
                                   "verdict, then tear down as a run does. With --keep the scenario's objects and its "
                                   "run's lab (networks, sinkhole, guard rules, engine lease) stay up, held by a "
                                   "process of their own, until `stowaway revert ID`; `stowaway lab status` lists "
                                   "them. Exit 0 when the verdict passed, 1 otherwise, 2 bad input or ID already kept.")
    p.add_argument("id", metavar="ID")
    p.add_argument("--keep", action="store_true",
                   help="leave the scenario's objects in place (state in <runtime>/staged/ID.json) until "
                        "`stowaway revert ID`")
    p.add_argument("--backend", choices=("docker", "swarm"), default="docker")
    _engine_option(p)

    p = sub.add_parser("revert", help="undo a kept detonation: the scenario's revert, every object of its run, "
                                      "its state record and engine lease",
                       description="Undo `stowaway detonate ID --keep`: its holder runs the scenario's revert and "
                                   "the cleanup a run does, then the run's labelled objects, guard rules, tracefs "
                                   "instances and host directory are checked gone (and removed if its holder had "
                                   "died). Safe to run again after an interrupted revert. Exit 2 when ID has no "
                                   "kept detonation.")
    p.add_argument("id", metavar="ID")

    p = sub.add_parser("report", help="re-render every scorecard format from an existing scorecard.json")
    p.add_argument("--from", dest="source", type=Path, default=DEFAULT_OUT / "scorecard.json", metavar="FILE")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="default: the directory of --from")

    p = sub.add_parser("explain", help="what a scenario does, what should fire or stay silent, and why")
    p.add_argument("id", metavar="ID")
    _dirs(p)

    p = sub.add_parser("watch", help="run the detectors on a live engine; alerts as JSON lines on stdout")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS", help="stop after this long")
    p.add_argument("--evidence", type=Path, default=None, metavar="DIR",
                   help="where `stowaway respond` writes evidence bundles (default: <state>/evidence/<watch id>)")
    p.add_argument("--triage", action="store_true",
                   help="put each alert's triage context (what `explain-alert` prints) on its line, as \"triage\"")
    _playbooks_option(p)
    _dirs(p, scenarios=False)
    _engine_option(p)

    p = sub.add_parser("enrich", help="the policy enrichment as an ingest stage: ECS events as JSON lines in, the "
                                      "same events with their policy.* fields out (for a SIEM running the "
                                      "converted rules)")
    p.add_argument("files", nargs="*", type=Path, metavar="FILE", help="JSON-lines files (default: stdin; - is stdin)")
    p.add_argument("--policy", action="append", type=Path, default=[], metavar="DIR",
                   help="policy directory instead of the shipped one (repeatable)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--platform", type=Path, metavar="RUN_DIR",
                       help="the platform facts recorded with this run (default: the lab's published ones)")
    where.add_argument("--no-platform", action="store_true", help="no platform facts: every image unsigned")

    p = sub.add_parser("respond", help="ask the running watch to respond to one of its alerts (by its id): contain "
                                       "as a playbook says, prove it, collect evidence; it stays contained")
    p.add_argument("alert", type=int, metavar="ALERT_ID", help="the id on the watch's alert line")
    p.add_argument("--playbook", metavar="NAME", help="this playbook, not the one the alert's rule triggers")
    p.add_argument("--watch", metavar="WATCH_ID", help="which watch, when several run")
    p.add_argument("--json", action="store_true", help="the watch's whole answer as JSON")

    p = sub.add_parser("release", help="ask the running watch to give back what it contained, and prove it")
    p.add_argument("object", metavar="OBJECT", help="container:<id> or service:<id> (a unique id prefix will do)")
    p.add_argument("--watch", metavar="WATCH_ID", help="which watch, when several run")
    p.add_argument("--json", action="store_true", help="the watch's whole answer as JSON")

    p = sub.add_parser("docs", help="write an Alerting & Detection Strategy document per detector")
    p.add_argument("--out", type=Path, default=Path("docs/detections"), metavar="DIR")
    p.add_argument("--scorecard", type=Path, default=DEFAULT_OUT / "scorecard.json", metavar="FILE",
                   help="latest results for the Validation sections (skipped when absent)")
    _dirs(p, detectors=False)
    p.add_argument("--rules", action="append", type=Path, default=[], metavar="DIR")

    p = sub.add_parser("gate", help="compare a run's scorecard with the committed baseline")
    p.add_argument("--current", type=Path, default=DEFAULT_OUT / "scorecard.json", metavar="FILE")
    p.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, metavar="FILE")
    p.add_argument("--latency-tolerance", type=float, default=2.0, metavar="SECONDS")
    p.add_argument("--latency-ratio", type=float, default=2.0, metavar="FACTOR")
    p.add_argument("--summary", type=Path, metavar="FILE", help="also append the report here (CI job summary)")

    p = sub.add_parser("baseline", help="accept a run as the regression baseline (deliberately)")
    p.add_argument("action", choices=("update",))
    p.add_argument("--from", dest="source", type=Path, default=DEFAULT_OUT / "scorecard.json", metavar="FILE")
    p.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, metavar="FILE")

    p = sub.add_parser("agent-image", help="build the detectors' node agent image on the lab engine (for a cluster "
                       "of your own: push it where its nodes pull from, and name it in STOWAWAY_AGENT_IMAGE)")
    p.add_argument("--save", type=Path, metavar="FILE", help="also write it as a `docker save` tarball")

    p = sub.add_parser("setup", help="install the host packages the lab needs (Debian/Ubuntu, as root)")
    p.add_argument("--check", action="store_true", help="only say what is missing and how to install it")

    p = sub.add_parser("completion", help="print a shell completion script: source <(stowaway completion bash)",
                       description="Print a bash completion script for stowaway: its commands, options, option "
                                   "values and the installed scenario ids (regenerate it after adding scenarios). "
                                   "zsh: run `autoload -U +X bashcompinit && bashcompinit` first.")
    p.add_argument("shell", choices=("bash",))
    return parser


# --- validation shared by commands that load scenarios and detectors ---------------------------------


def _load_registry(extra: Sequence[Path]) -> Registry:
    from scenarios.registry import load

    return load(extra)


def _validate_detectors(rule_dirs: Sequence[Path], policy_dirs: Sequence[Path]) -> None:
    """Load rules and policy once up front, so a broken file stops us before the lab starts."""
    _validate_rules(rule_dirs)
    _validate_policies(policy_dirs)


def _validate_rules(rule_dirs: Sequence[Path]) -> set[str]:
    """Every detector id the rules (``rule_dirs`` or the shipped ones) and the analytics define.
    Raises SigmaRuleError naming the file and field of a broken rule."""
    from harness.monitoring import known_detector_ids

    return known_detector_ids(rule_dirs)


def _validate_policies(policy_dirs: Sequence[Path]) -> None:
    for directory in policy_dirs:
        if not Path(directory).is_dir():
            raise PolicyError(directory, "(directory)", "not a directory")
    load_policy(list(policy_dirs) or [DEFAULT_POLICY_DIR])


def _validate_expectations(scenarios: Sequence[type[Scenario]], rule_dirs: Sequence[Path]) -> None:
    """What ``stowaway run`` checks before it starts: every expectation names a rule that exists, in
    ``rule_dirs`` or among the shipped ones (one missing from ``rule_dirs`` only is a lost detection,
    which the run reports, not bad input)."""
    from harness.monitoring import known_detector_ids
    from harness.runner import check_expectations

    check_expectations(scenarios, known_detector_ids(rule_dirs) | known_detector_ids())


def _validate_plugins() -> int:
    """Load every installed plugin, as a run does before it starts; how many there are."""
    from lab import plugins

    return sum(len(plugins.load(group)) for group in plugins.GROUPS)


def _for_backend(chosen: list[type[Scenario]], backend: str) -> list[type[Scenario]]:
    """A kubernetes run takes the scenarios written for Kubernetes; any other run leaves out those
    that exist only there (they need a cluster, and would only be rows of "skipped")."""
    if backend in ("kubernetes", "kind"):
        return [s for s in chosen if "kubernetes" in s.backends]
    return [s for s in chosen if tuple(s.backends) != ("kubernetes",)]


def _select(args: argparse.Namespace) -> list[type[Scenario]]:
    registry = _load_registry(args.scenarios)
    try:
        chosen = registry.select(ids=args.ids, tags=args.tag, techniques=args.technique)
    except KeyError as exc:
        raise BadInput(exc.args[0]) from None
    if getattr(args, "backend", None):
        chosen = _for_backend(chosen, args.backend)
    wanted = " ".join([*(f"--tag {t}" for t in args.tag), *(f"--technique {t}" for t in args.technique)])
    if getattr(args, "varied_only", False):
        if chosen and not any(s.dimensions for s in chosen):
            raise BadInput(f"--varied-only: none of the {len(chosen)} scenario(s) matching "
                           f"{wanted or 'the selection'} declares dimensions; `stowaway explain ID` shows a "
                           "scenario's")
        chosen = [s for s in chosen if s.dimensions]
    if not chosen:
        raise BadInput(f"no scenario matches {wanted or 'the selection'}; `stowaway list` shows them")
    return chosen


def _print_table(table: Sequence[Sequence[str]]) -> None:
    """Every column as wide as its widest cell, so the columns stay aligned; the last one unpadded."""
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)) + "  " + line[-1])


# --- commands ------------------------------------------------------------------------------------------


def _tactics(names: Sequence[str]) -> set[str]:
    """The short names of the tactics ``--tactic`` names; BadInput naming the first it does not know."""
    from harness.tactics import tactic_map

    found = set()
    for name in names:
        tactic = tactic_map().find(name)
        if tactic is None:
            known = ", ".join(t.short_name for t in tactic_map().tactics)
            raise BadInput(f"--tactic: unknown ATT&CK tactic {name!r} (known: {known}; a name or id works too)")
        found.add(tactic.short_name)
    return found


def cmd_list(args: argparse.Namespace) -> int:
    from harness.tactics import tactic_map

    wanted = _tactics(args.tactic)
    registry = _load_registry(args.scenarios)
    chosen = registry.select(tags=args.tag, techniques=args.technique, backend=args.backend)
    rows: list[dict[str, Any]] = [
        {"id": s.id, "kind": s.kind.value, "techniques": list(s.techniques),
         "tactics": [t.short_name for t in tactic_map().of_all(s.techniques)], "backends": list(s.backends),
         "twin": s.twin, "tags": list(s.tags), "title": s.title}
        for s in chosen if args.kind is None or s.kind.value == args.kind]
    if wanted:
        rows = [r for r in rows if wanted & set(r["tactics"])]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_PASS
    _print_table([("ID", "KIND", "ATT&CK", "BACKENDS", "TWIN", "TACTICS")] + [
        (r["id"], r["kind"], ",".join(r["techniques"]), ",".join(r["backends"]), r["twin"] or "-",
         ",".join(r["tactics"]) or "-") for r in rows])
    from scenarios.attack import catalog

    print(f"\n{len(rows)} scenario(s); technique ids refer to ATT&CK {catalog().domain} v{catalog().version}")
    return EXIT_PASS


def cmd_run(args: argparse.Namespace) -> int:
    if args.parallel < 1:
        raise BadInput(f"--parallel: must be at least 1, not {args.parallel}")
    if args.soak is not None and args.soak <= 0:
        raise BadInput(f"--soak: must be a positive number of minutes, not {args.soak:g}")
    if args.variants == "all":
        variants: int | None = None
    elif args.variants.isdigit():
        variants = int(args.variants)
    else:
        raise BadInput(f"--variants: a number of variants or 'all', not {args.variants!r}")
    selected = _select(args)
    _validate_detectors(args.rules, args.policy)
    _validate_expectations(selected, args.rules)
    external = _external_sources(args)
    playbooks = [p for p in _load_playbooks(args.playbooks, args.rules) if p.mode == "auto"] if args.respond else []
    if playbooks and args.backend == "kubernetes" and os.environ.get("STOWAWAY_KUBECONFIG"):
        # Said, not refused: a cluster the lab did not make has no node it can enter to freeze a pod.
        print("--respond: a cluster named by STOWAWAY_KUBECONFIG has no node the lab can enter to freeze a pod; "
              "this run responds to nothing", file=sys.stderr)
        playbooks = []
    if args.playbooks and not args.respond:
        raise BadInput("--playbooks: given without --respond, no playbook would act")
    if args.dry_run:
        _validate_plugins()  # a run loads them before it starts; a broken one is bad input here too
        for source, mapping in external:
            print(f"would grade {mapping.detector} ({mapping.format}) on alerts from {source.where}, judged by "
                  f"{mapping.path or 'no mapping file'}")
        return _print_plan(args, selected, variants)
    from harness.progress import ProgressPrinter
    from harness.runner import RunOptions, run
    from harness.scorecard import write_all

    with ProgressPrinter(quiet=args.quiet) as progress:
        progress(f"run: {len(selected)} scenario(s) on the {args.backend} backend, {args.parallel} at once")
        result = run(selected, RunOptions(backend=args.backend, docker_host=args.docker_host,
                                          parallel=args.parallel, rule_dirs=args.rules, policy_dirs=args.policy,
                                          progress=progress, soak_minutes=args.soak, variants=variants,
                                          seed=args.seed, record_dir=args.out if args.record else None,
                                          external=external, playbooks=playbooks,
                                          evidence_dir=args.out / "evidence" if args.respond else None))
        written = write_all(result, args.out)
    passed = result.passed_with(allow_skips=args.allow_skips)
    print(f"run {result.run_id}: {'PASS' if passed else 'FAIL'} ({_verdict_counts(result)})")
    for outcome in result.outcomes:
        if outcome.passed:
            continue
        note = " (allowed by --allow-skips)" if args.allow_skips and outcome.verdict is Verdict.SKIPPED else ""
        print(f"  {outcome.scenario_id}: {outcome.verdict.value}{note}: {outcome.reason}")
        for item in outcome.unlisted_collateral:
            print(f"    false positive of {item.rule_id} on {item.object} (not in the scenario's may_fire)")
    if result.soak is not None:
        _print_soak(result.soak)
    _print_external(result)
    skipped = [o for o in result.outcomes if o.verdict is Verdict.SKIPPED]
    if skipped and not args.allow_skips:
        print(f"{len(skipped)} scenario(s) skipped: a skip fails the run; --allow-skips accepts them")
    print(f"scorecards: {', '.join(str(p) for p in written.values())}")
    return EXIT_PASS if passed else EXIT_FAIL


def _load_playbooks(dirs: Sequence[Path], rule_dirs: Sequence[Path]) -> list[Playbook]:
    """Every playbook (the shipped ones, or those in ``dirs``), each trigger a detector that exists."""
    from harness.monitoring import known_detector_ids
    from harness.response.playbooks import load_playbooks

    return load_playbooks(dirs, known_detector_ids(rule_dirs) | known_detector_ids())


def _load_mappings(given: Sequence[Path], scenario_ids: set[str] | None) -> dict[str, DetectorMapping]:
    """The shipped mapping files, each replaced by a given one for the same detector."""
    from harness.external.mapping import load_mappings, shipped_mappings

    return {**load_mappings(shipped_mappings(), scenario_ids), **load_mappings(given, scenario_ids)}


def _external_sources(args: argparse.Namespace) -> list[tuple[AlertSource, DetectorMapping]]:
    """Every --alerts-from, with its mapping; BadInput (nothing started) for a spec or file in error."""
    if not args.alerts_from:
        if args.detector_map:
            raise BadInput("--detector-map: given without --alerts-from, it would judge nothing")
        return []
    from harness.external.collect import parse_spec
    from harness.external.sources import SourceError
    from lab import LabPaths

    mappings = _load_mappings(args.detector_map, set(_load_registry(args.scenarios).scenarios))
    sources = []
    try:
        for spec in args.alerts_from:
            sources.append(parse_spec(spec, mappings, LabPaths.default().runtime / "auditd"))
    except SourceError as exc:
        raise BadInput(str(exc)) from None
    names = [mapping.detector for _, mapping in sources]
    if len(set(names)) != len(names):
        raise BadInput(f"--alerts-from: one source per detector ({', '.join(names)})")
    for source, mapping in sources:
        preflight = getattr(source, "preflight", None)  # a source the lab runs itself (auditd)
        if callable(preflight):
            try:
                preflight()
            except RuntimeError as exc:
                raise BadInput(f"--alerts-from {mapping.detector}: {exc}") from None
    return sources


def _print_external(result: RunResult) -> None:
    from harness.scorecard.external import figures

    for report in result.external:
        print(f"{report.detector}: {figures(report).headline()}; {report.alerts} alerts read, "
              f"{report.unattributed} on no lab object (graded only: the run's verdict is the embedded detectors')")


def _print_plan(args: argparse.Namespace, selected: Sequence[type[Scenario]], variants: int | None) -> int:
    """``run --dry-run``: each run the real one would do, in its order, with its kind and backend."""
    from harness.runner import scenario_backend, work_items
    from scenarios.variants import variant_id

    backend = scenario_backend(args.backend)
    items = work_items(selected, variants, args.seed)
    rows = [("ID", "KIND", "BACKEND", "RUNS")]
    # The runner's order: the parallel-safe runs first (up to --parallel at once), then the others alone.
    for cls, variant in sorted(items, key=lambda item: not item[0].parallel_safe):
        runs = ("alone" if not cls.parallel_safe else "in parallel") if backend in cls.backends else \
            f"skipped: does not support the {backend} backend"
        rows.append((cls.id if variant is None else variant_id(cls, variant), cls.kind.value, args.backend, runs))
    drawn = len(items) - len(selected)
    request = "" if args.variants == "0" else \
        f", {drawn} of them variants ({'all' if variants is None else variants} per scenario, seed {args.seed})"
    print(f"dry run: {len(items)} run(s) of {len(selected)} scenario(s) on the {args.backend} backend{request}, "
          f"{args.parallel} at once; nothing was started")
    _print_table(rows)
    if args.soak is not None:
        print(f"and the benign fleet for at least {args.soak:g} minutes beside them")
    print(f"scorecards would go to {args.out}")
    return EXIT_PASS


def cmd_replay(args: argparse.Namespace) -> int:
    from harness.replay import RecordingError, load_run, replay_run
    from harness.scorecard import write_all

    _validate_policies(args.policy)
    try:
        recorded = load_run(args.run_dir)
    except RecordingError as exc:
        raise BadInput(str(exc)) from None
    result = replay_run(recorded, args.rules, args.policy)
    written = write_all(result, args.out or args.run_dir / "replay")
    passed = result.passed_with(allow_skips=args.allow_skips)
    pairs = list(zip(result.outcomes, recorded.outcomes, strict=True))
    changed = [o for o, r in pairs if o.verdict is not r.recorded_verdict]
    print(f"replay of {args.run_dir}: {'PASS' if passed else 'FAIL'} ({_verdict_counts(result)}; "
          f"{len(recorded.events)} events, {len(changed)} verdict(s) changed since recorded)")
    for outcome, before in pairs:
        if outcome.passed and outcome.verdict is before.recorded_verdict:
            continue
        was = "" if outcome.verdict is before.recorded_verdict else f" (recorded: {before.recorded_verdict.value})"
        print(f"  {outcome.scenario_id}: {outcome.verdict.value}{was}: {outcome.reason}")
        for item in outcome.unlisted_collateral:
            print(f"    false positive of {item.rule_id} on {item.object} (not in the scenario's may_fire)")
    print(f"scorecards: {', '.join(str(p) for p in written.values())}")
    return EXIT_PASS if passed else EXIT_FAIL


def cmd_explain_alert(args: argparse.Namespace) -> int:
    from harness import triage
    from harness.replay import RecordingError, load_run

    if args.events < 1:
        raise BadInput(f"--events: must be at least 1, not {args.events}")
    if args.live:
        return _explain_live(args)
    if not args.run_dir.is_dir():
        raise BadInput(f"{args.run_dir}: no such directory (a run written by `stowaway run --record`)")
    _validate_policies(args.policy)
    try:
        recorded = load_run(args.run_dir)
        alerts, source = triage.load_alerts(recorded)
        chosen = None if args.alert is None else triage.choose(alerts, args.alert)
    except (RecordingError, triage.TriageError) as exc:
        raise BadInput(str(exc)) from None
    if chosen is None:  # no ALERT: the list ALERT's index refers to
        rows = {"run_dir": str(args.run_dir), "alerts_from": source, "alerts": triage.listing(alerts)}
        print(json.dumps(rows, indent=2) if args.json else triage.render_listing(alerts, str(args.run_dir), source))
        return EXIT_PASS
    detector = triage.load_detector(chosen.alert.rule_id)
    policy, platform = triage.load_policy_context(recorded, chosen.alert, detector, args.policy)
    result = triage.triage(chosen, alerts, recorded.events, detector, policy, platform, recorded.run_id, source,
                           limit=args.events)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.render())
    return EXIT_PASS


def _explain_live(args: argparse.Namespace) -> int:
    from harness.watch_control import ControlError, ask, choose_watch
    from lab import LabPaths

    if args.alert is not None or args.policy:
        raise BadInput("--live: takes the watch's alert id alone (no ALERT, no --policy: the watch asks the "
                       "shipped policy)")
    try:
        number = int(str(args.run_dir))
    except ValueError:
        raise BadInput(f"--live: {args.run_dir} is not an alert id (the \"id\" on a watch's alert line)") from None
    try:
        answer = ask(choose_watch(LabPaths.default(), args.watch), {"op": "explain", "alert": number,
                                                                     "events": args.events})
    except ControlError as exc:
        raise BadInput(str(exc)) from None
    if not answer.get("ok"):
        raise BadInput(str(answer.get("error")))
    print(json.dumps(answer["triage"], indent=2) if args.json else answer["text"])
    return EXIT_PASS


def cmd_validate(args: argparse.Namespace) -> int:
    """Every check ``stowaway run`` makes before it starts, on everything, with nothing started.
    Each kind of input is checked even when another failed, so one call names one problem of each."""
    from lab.plugins import PluginError
    from scenarios.registry import ScenarioError

    problems: list[str] = []
    lines: list[str] = []
    registry = None
    try:
        registry = _load_registry(args.scenarios)
        lines.append(f"scenarios: {len(registry.all())} loaded"
                     + (f" (with {', '.join(str(d) for d in args.scenarios)})" if args.scenarios else ""))
    except ScenarioError as exc:
        problems.append(str(exc))
    try:
        lines.append(f"rules: {len(_validate_rules(args.rules))} detector ids (Sigma rules and analytics) from "
                     + (", ".join(str(d) for d in args.rules) or "the shipped rules"))
    except SigmaRuleError as exc:
        problems.append(str(exc))
    if registry is not None:
        try:
            _validate_expectations(registry.all(), args.rules)
            lines.append("expectations: every rule a scenario names exists")
        except ScenarioError as exc:
            problems.append(str(exc))
        except SigmaRuleError:
            lines.append("expectations: not checked (the rules above did not load)")
    try:
        _validate_policies(args.policy)
        lines.append("policies: loaded from " + (", ".join(str(d) for d in args.policy) or str(DEFAULT_POLICY_DIR)))
    except PolicyError as exc:
        problems.append(str(exc))
    try:
        lines.append(f"plugins: {_validate_plugins()} installed, each loaded")
    except PluginError as exc:
        problems.append(str(exc))
    try:
        try:
            playbooks = _load_playbooks(args.playbooks, args.rules)
            checked = ""
        except SigmaRuleError:  # said once, above: check the playbooks' shape, not their triggers
            from harness.response.playbooks import load_playbooks

            playbooks, checked = load_playbooks(args.playbooks), "; triggers not checked (the rules did not load)"
        lines.append(f"playbooks: {len(playbooks)} ({', '.join(f'{p.name} ({p.mode})' for p in playbooks)}){checked}")
    except PlaybookError as exc:
        problems.append(str(exc))
    try:
        mappings = _load_mappings(args.detector_map, None if registry is None else set(registry.scenarios))
        lines.append(f"detector mappings: {len(mappings)} ({', '.join(sorted(mappings)) or 'none'})")
    except MappingError as exc:
        problems.append(str(exc))
    for line in lines:
        print(line)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_BAD_INPUT
    print("valid")
    return EXIT_PASS


def cmd_completion(args: argparse.Namespace) -> int:
    from harness.completion import bash_script
    from harness.tactics import tactic_map
    from scenarios.attack import catalog

    words = {"ID": sorted(_load_registry([]).scenarios), "TECHNIQUE": sorted(catalog().techniques),
             "TACTIC": [t.short_name for t in tactic_map().tactics]}
    print(bash_script(build_parser(), words), end="")
    return EXIT_PASS


def _verdict_counts(result: RunResult) -> str:
    counts: dict[str, int] = {}
    for outcome in result.outcomes:
        counts[outcome.verdict.value] = counts.get(outcome.verdict.value, 0) + 1
    collateral = sum(len(o.unlisted_collateral) for o in result.outcomes)
    text = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items()))
    return text + (f"; {collateral} unlisted collateral alert(s)" if collateral else "")


def cmd_soak(args: argparse.Namespace) -> int:
    if args.minutes <= 0:
        raise BadInput(f"--minutes: must be positive, not {args.minutes:g}")
    _validate_detectors(args.rules, args.policy)
    from harness.progress import ProgressPrinter
    from harness.runner import RunOptions, run
    from harness.scorecard import write_all

    with ProgressPrinter(quiet=args.quiet) as progress:
        progress(f"soak: the benign fleet for {args.minutes:g} min under the detectors, no scenario")
        result = run([], RunOptions(docker_host=args.docker_host, rule_dirs=args.rules, policy_dirs=args.policy,
                                    progress=progress, soak_minutes=args.minutes))
        written = write_all(result, args.out)
    print(f"run {result.run_id}: {'PASS' if result.passed else 'FAIL'}")
    if result.soak is not None:
        _print_soak(result.soak)
    print(f"scorecards: {', '.join(str(p) for p in written.values())}")
    return EXIT_PASS if result.passed else EXIT_FAIL


def _print_soak(soak: SoakResult) -> None:
    """The soak's verdict, each service's evidence, and every alert with the service it landed on."""
    print(f"soak: {soak.status}, {soak.minutes:g} min: {soak.reason}")
    owner = {ref: service.name for service in soak.services for ref in service.objects}
    for service in soak.services:
        print(f"  {'ok  ' if service.healthy else 'FAIL'} {service.name}: {service.does}")
        for line in service.checks:
            print(f"         {line}")
    for alert in soak.alerts:
        where = owner.get(alert.get("object", ""), "?")
        context = alert.get("context") or {}
        detail = "; ".join(f"{k}={v}" for k, v in context.items() if v not in (None, ""))
        print(f"  false positive: {alert.get('rule_id')} on {where} ({alert.get('object')}): {detail}")


def cmd_lab(args: argparse.Namespace) -> int:
    from harness import labctl
    from harness.progress import ProgressPrinter
    from lab import LabPaths

    paths = LabPaths.default()
    if args.action == "status":
        return labctl.status(paths, sys.stdout, args.docker_host)
    if args.docker_host:
        print(f"the engine at {args.docker_host} is managed outside the lab: there is nothing to bring "
              f"{args.action}", file=sys.stderr)
        return EXIT_PASS
    with ProgressPrinter() as progress:
        if args.action == "up":
            return labctl.up(paths, sys.stdout, progress)
        return labctl.down(paths, sys.stdout, progress)


def cmd_reap(args: argparse.Namespace) -> int:
    from harness import labctl
    from lab import LabPaths

    return labctl.reap_dead(LabPaths.default(), sys.stdout, args.docker_host)


def cmd_detonate(args: argparse.Namespace) -> int:
    from harness import staged
    from harness.progress import ProgressPrinter
    from lab import LabPaths

    try:
        target = staged.resolve(_load_registry([]), args.id)
        staged.check(target, args.backend, args.keep, LabPaths.default())
        _validate_detectors([], [])
        _validate_expectations([target.cls], [])
        _validate_plugins()
        with ProgressPrinter() as progress:
            return staged.detonate(target, args.backend, args.docker_host, args.keep, progress, sys.stdout)
    except staged.StagedError as exc:
        raise BadInput(str(exc)) from None


def cmd_revert(args: argparse.Namespace) -> int:
    from harness import staged
    from harness.progress import ProgressPrinter
    from lab import LabPaths

    try:
        with ProgressPrinter() as progress:
            return staged.revert(args.id, LabPaths.default(), progress, sys.stdout)
    except staged.StagedError as exc:
        raise BadInput(str(exc)) from None


def cmd_report(args: argparse.Namespace) -> int:
    from harness.scorecard import from_json, load_json, write_all

    try:
        run = from_json(load_json(args.source))
    except FileNotFoundError:
        raise BadInput(f"{args.source}: file not found (run `stowaway run` first)") from None
    except ScorecardFormatError as exc:
        raise BadInput(f"{args.source}: field {exc.field}: {exc.problem}") from None
    written = write_all(run, args.out or args.source.parent)
    print(f"re-rendered run {run.run_id}: {', '.join(str(p) for p in written.values())}")
    return EXIT_PASS


def cmd_explain(args: argparse.Namespace) -> int:
    from harness.explain import explain

    registry = _load_registry(args.scenarios)
    try:
        registry.get(args.id)
    except KeyError as exc:
        raise BadInput(exc.args[0]) from None
    print(explain(args.id, registry, args.rules, args.policy))
    return EXIT_PASS


def cmd_watch(args: argparse.Namespace) -> int:
    from harness.watch import watch

    if args.duration is not None and args.duration <= 0:
        raise BadInput(f"--duration: must be positive, not {args.duration:g}")
    _validate_detectors(args.rules, args.policy)
    playbooks = _load_playbooks(args.playbooks, args.rules)
    return watch(args.rules, args.policy, args.docker_host, args.duration, playbooks=playbooks,
                 evidence_dir=args.evidence, with_triage=args.triage)


def cmd_enrich(args: argparse.Namespace) -> int:
    from harness.enrich import main as enrich
    from harness.replay import RecordingError

    for path in args.files:
        if str(path) != "-" and not path.is_file():
            raise BadInput(f"{path}: no such file")
    _validate_policies(args.policy)
    platform = "none" if args.no_platform else str(args.platform) if args.platform else "lab"
    try:
        return enrich(args.files, args.policy, platform)
    except RecordingError as exc:
        raise BadInput(str(exc)) from None


def cmd_respond(args: argparse.Namespace) -> int:
    from harness.response.commands import respond

    code, error = respond(args.alert, args.playbook, args.watch, args.json, sys.stdout)
    if error:
        raise BadInput(error)
    return code


def cmd_release(args: argparse.Namespace) -> int:
    from harness.response.commands import release

    code, error = release(args.object, args.watch, args.json, sys.stdout)
    if error:
        raise BadInput(error)
    return code


def cmd_docs(args: argparse.Namespace) -> int:
    from harness.ads import write_docs

    registry = _load_registry(args.scenarios)
    scorecard = None
    if args.scorecard.exists():
        from harness.scorecard import load_json

        try:
            scorecard = load_json(args.scorecard)
        except ScorecardFormatError as exc:
            raise BadInput(f"{args.scorecard}: field {exc.field}: {exc.problem}") from None
    written = write_docs(args.out, registry, args.rules, scorecard, scorecard_path=args.scorecard)
    print(f"wrote {len(written) - 1} detection document(s) and an index to {args.out}")
    return EXIT_PASS


def cmd_gate(args: argparse.Namespace) -> int:
    from harness import gate

    argv = ["--baseline", str(args.baseline), "--current", str(args.current),
            "--latency-tolerance", str(args.latency_tolerance), "--latency-ratio", str(args.latency_ratio)]
    if args.summary:
        argv += ["--summary", str(args.summary)]
    return gate.main(argv)


def cmd_baseline(args: argparse.Namespace) -> int:
    from harness import gate

    return gate.main(["--baseline", str(args.baseline), "--current", str(args.source), "--update"])


def cmd_agent_image(args: argparse.Namespace) -> int:
    from harness.node_agent import agent_recipe
    from lab import LabSession

    with LabSession() as session:
        built = session.pipeline.build_signed(agent_recipe())
        if args.save is not None:
            result = session.engine.cli("save", "-o", str(args.save), built.reference)
            if result.returncode != 0:
                print(f"error: docker save {built.reference}: {result.stderr.decode(errors='replace')[-500:]}",
                      file=sys.stderr)
                return EXIT_FAIL
    print(built.reference)
    return EXIT_PASS


def cmd_setup(args: argparse.Namespace) -> int:
    from lab import system

    setup = system.plan()
    for note in setup.notes:
        print(f"note: {note}")
    if not setup.missing:
        print("every package the lab needs is installed: " + ", ".join(system.REQUIRED_PACKAGES))
        return EXIT_PASS
    print("missing: " + ", ".join(f"{p} ({system.REQUIRED_PACKAGES[p]})" for p in setup.missing))
    if args.check or not setup.can_apply:
        print(setup.instructions())
        return EXIT_FAIL
    print("installing: " + " ".join(setup.install_command))
    status = system.apply(setup)
    if status != 0:
        print(f"error: apt-get exited with {status}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_PASS


COMMANDS = {"list": cmd_list, "run": cmd_run, "soak": cmd_soak, "lab": cmd_lab, "reap": cmd_reap, "report": cmd_report,
            "explain": cmd_explain, "watch": cmd_watch, "docs": cmd_docs, "gate": cmd_gate,
            "baseline": cmd_baseline, "setup": cmd_setup, "validate": cmd_validate, "completion": cmd_completion,
            "replay": cmd_replay, "detonate": cmd_detonate, "revert": cmd_revert,
            "explain-alert": cmd_explain_alert, "respond": cmd_respond, "release": cmd_release, "enrich": cmd_enrich,
            "agent-image": cmd_agent_image}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from harness.runner import Interrupted
    from lab import EngineUnavailable, plugins
    from scenarios.registry import ScenarioError

    try:
        return COMMANDS[args.command](args)
    except (ScenarioError, SigmaRuleError, PolicyError, BadInput, plugins.PluginError, MappingError,
            PlaybookError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except EngineUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except BrokenPipeError:  # `stowaway list | head`: the reader left, which is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PASS
    except KeyboardInterrupt:
        print("interrupted: the lab was torn down", file=sys.stderr)
        return EXIT_SIGINT
    except Interrupted:
        print("terminated: the lab was torn down", file=sys.stderr)
        return EXIT_SIGTERM


if __name__ == "__main__":
    sys.exit(main())
