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
    "rss = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:'))\n"
    "print(f'loaded {len(data)} bytes, rss {rss} KiB', flush=True)\n"
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
    backends = ("docker", "kubernetes")
    techniques = ("T1496",)
    expect = Expectation(silent=("stowaway.analytic.memory-spike", "stowaway.analytic.cpu-spike"), window_s=25)
    twin = "docker.resources.memory-balloon"
    tags = ("resources",)
    description = (
        f"Deploys a cache service (no workload label, so no resource baseline) that loads {CACHE_MIB} MiB "
        "into memory the moment it starts, touching every page, and then serves from it and holds it "
        "steadily. A client beside it fetches from it a few times. A level held from the first second "
        "is what the workload is, not a spike: the memory analytic must stay silent for 25 s. The "
        "scenario checks the data set is resident (the service prints its own RSS) and the service answers, "
        "from the two services' output: nothing execs into them."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("start a cache service that loads its data set at start")
        cache = lab.deploy(WorkloadSpec(role="cache", command=("python3", "-u", "-c", CACHE)))
        lab.wait_for(lambda: "loaded " in lab.logs(cache), timeout=30, what="the cache to load its data set")
        rss = int(lab.logs(cache).split("rss ", 1)[1].split()[0])
        if rss < CACHE_MIB * 1024 * 0.9:
            raise RuntimeError(f"the data set is not resident: rss {rss} KiB")
        # A client beside it fetches, as other services would (on Kubernetes an exec into a pod is an
        # alert of its own, so the checks read output instead).
        url = f"http://{cache.addresses.get('lan') or cache.addresses['pod']}:8080/"
        client = lab.deploy(WorkloadSpec(role="web-check", command=("sh", "-c", (
            f"for i in $(seq 1 30); do curl -sf -m 2 -o /dev/null {url} && break; sleep 1; done; "
            f"for i in 1 2 3; do curl -sf -m 5 -o /dev/null {url} && echo fetched; done; sleep 120"))))
        lab.wait_for(lambda: lab.logs(client).count("fetched") == 3, timeout=60, what="the client to fetch three times")
