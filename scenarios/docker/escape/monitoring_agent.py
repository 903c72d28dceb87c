"""The sanctioned node monitoring agent: the platform's signed image, privileged, host PID, read-only /proc and /sys."""

from __future__ import annotations

from lab import Lab, LabError, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import NODE_AGENT


class MonitoringAgent(Scenario):
    id = "docker.escape.monitoring-agent"
    title = "Sanctioned privileged monitoring agent with read-only host mounts"
    kind = Kind.BENIGN
    techniques = ("T1611",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.docker.privileged-container", "stowaway.docker.host-namespace",
                                 "stowaway.docker.sensitive-host-mount", "stowaway.docker.dangerous-capability"),
                         window_s=8)
    twin = "docker.escape.nsenter-host"
    tags = ("escape",)
    description = (
        "Deploys the node monitoring agent the privileged agents policy sanctions "
        "(detectors/policy/privileged_agents.yaml): the image the platform's pipeline built and signed "
        "(platform/node-agent), running its own command, privileged, in the host PID namespace, with the "
        "host's /proc and /sys mounted read-only. It prints load, process count and free memory every two "
        "seconds. The scenario checks it really reads host metrics. No escape rule may fire."
    )

    def detonate(self, lab: Lab) -> None:
        image = lab.platform_image(NODE_AGENT)
        lab.action("deploy the sanctioned monitoring agent")
        agent = lab.deploy(WorkloadSpec(
            role="node-agent", image=image, command=(), privileged=True, pid_mode="host",
            mounts=(Mount(source="/proc", target="/host/proc", read_only=True),
                    Mount(source="/sys", target="/host/sys", read_only=True))))
        seen = lab.exec(agent, "sh", "-c", "ls /host/proc | grep -c '^[0-9]'").output.strip()
        if not seen.isdigit() or int(seen) < 10:
            raise LabError(f"the agent does not see the host's processes: {seen!r}")
