"""A cache service loads its data set into memory at start and holds it: a level, not a spike."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

CACHE_MIB = 400
# Loads the whole data set at start (as a cache warmed from a snapshot does), then serves it.
CACHE = (
    "import http.server, os\n"
    f"data = bytearray({CACHE_MIB} * 1024 * 1024)\n"
    "for i in range(0, len(data), 4096): data[i] = 1\n"
    "open('/tmp/.loaded', 'w').write(str(len(data)))\n"
    "class Handler(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = bytes(data[:4096])\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "http.server.HTTPServer(('', 8080), Handler).serve_forever()\n"
)


class PreloadedCache(Scenario):
    id = "docker.resources.preloaded-cache"
    title = "Cache service holds 400 MiB steadily from its first second"
    kind = Kind.BENIGN
    techniques = ("T1496",)
    expect = Expectation(silent=("stowaway.analytic.memory-spike", "stowaway.analytic.cpu-spike"), window_s=25)
    twin = "docker.resources.memory-balloon"
    tags = ("resources",)
    description = (
        f"Deploys a cache service (no workload label, so no resource baseline) that loads {CACHE_MIB} MiB "
        "into memory the moment it starts, touching every page, and then serves from it and holds it "
        "steadily. A client on the LAN fetches from it a few times. A level held from the first second "
        "is what the workload is, not a spike: the memory analytic must stay silent for 25 s. The "
        "scenario checks the data set is resident (ps RSS) and the service answers."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("start a cache service that loads its data set at start")
        cache = lab.deploy(WorkloadSpec(role="cache", command=("python3", "-c", CACHE)))
        lab.wait_for(lambda: lab.exec(cache, "test", "-e", "/tmp/.loaded", check=False).exit_code == 0,
                     timeout=20, what="the cache to load its data set")
        rss = [int(v) for v in lab.exec(cache, "sh", "-c", "ps -o rss= -C python3").output.split()]
        if not rss or max(rss) < CACHE_MIB * 1024 * 0.9:
            raise RuntimeError(f"the data set is not resident: rss {rss}")
        client = lab.deploy(WorkloadSpec(role="web-check"))
        for _ in range(3):
            lab.exec(client, "curl", "-sf", "-o", "/dev/null", f"http://{cache.addresses['lan']}:8080/")
