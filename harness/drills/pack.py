"""Scenarios made only for the drills, written to a temporary directory and loaded with ``--scenarios``.

They leave a trace of every kind the lab must clean (a container, a NAT rule inside its namespace,
a file under a lab host directory) and then either wait (to be interrupted mid-scenario) or raise.
The marker file tells the drill the scenario is halfway: everything is in place.
"""

from __future__ import annotations

from pathlib import Path

_COMMON = '''
from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


def leave_traces(lab: Lab) -> None:
    worker = lab.deploy(WorkloadSpec(role="worker", networks=("lan", "inet"), cap_add=("NET_ADMIN",)))
    lab.exec(worker, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "9",
             "-j", "DNAT", "--to-destination", lab.sinkhole.address + ":80")
    (lab.host_dir("state") / "marker").write_text("halfway")
'''

SCENARIOS = {
    "wait_halfway.py": _COMMON + '''

class WaitHalfway(Scenario):
    id = "drill.wait-halfway"
    title = "Drill: leave traces, then wait to be interrupted"
    kind = Kind.ADVERSARY
    techniques = ("T1610",)
    expect = Expectation(fires=("stowaway.docker.logging-disabled",), within_s=5)
    description = "Deploys a container, adds a NAT rule in its namespace and a host marker, then waits 90 s."

    def detonate(self, lab: Lab) -> None:
        import time

        leave_traces(lab)
        lab.action("wait")
        time.sleep(90)
''',
    "raise_halfway.py": _COMMON + '''

class RaiseHalfway(Scenario):
    id = "drill.raise-halfway"
    title = "Drill: leave traces, then raise"
    kind = Kind.ADVERSARY
    techniques = ("T1610",)
    expect = Expectation(fires=("stowaway.docker.logging-disabled",), within_s=5)
    description = "Deploys a container, adds a NAT rule in its namespace and a host marker, then raises."

    def detonate(self, lab: Lab) -> None:
        leave_traces(lab)
        raise RuntimeError("the drill scenario fails halfway on purpose")
''',
}


def write(root: Path) -> Path:
    """Write the pack under ``root`` (ids ``drill.*``); returns the directory to pass to ``--scenarios``."""
    pack = root / "drill-scenarios"
    (pack / "drill").mkdir(parents=True, exist_ok=True)
    (pack / "drill" / "__init__.py").write_text("")
    for name, source in SCENARIOS.items():
        (pack / "drill" / name).write_text(source)
    return pack
