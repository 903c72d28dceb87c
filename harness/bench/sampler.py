"""The resource sampler on its own, in its own process: ``python -m harness.bench.sampler --seconds 60``.

It runs the real CgroupResourcesSensor (1 Hz) against the lab engine and prints one JSON object:
the process's CPU time over the window, and per container how many samples arrived. The first read
of a container only sets the starting point of its rate, so a container present for the whole
window owes one sample per interval after it; fewer is a missed sample.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from typing import Any

import orjson


def missed_samples(per_container: dict[str, int], containers: int, intervals: int) -> int:
    """Samples owed but not delivered: ``intervals`` per container, counting containers never sampled."""
    owed = containers * intervals
    got = sum(min(n, intervals) for n in per_container.values())
    return max(0, owed - got)


def run(docker_host: str, seconds: float, warmup_s: float, label: str | None) -> dict[str, Any]:
    import docker
    import psutil

    from detectors.sensors.cgroup_resources import CgroupResourcesSensor
    from detectors.sensors.containers import ContainerDirectory

    client = docker.DockerClient(base_url=docker_host, timeout=300)
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    measuring = threading.Event()

    def emit(event: dict[str, Any]) -> None:
        if measuring.is_set():
            with lock:
                counts[event.get("container.id", "")] += 1

    sensor = CgroupResourcesSensor(ContainerDirectory(client))
    sensor.start(emit)
    time.sleep(warmup_s)  # the listing, the cgroup files opened, the first (rate-less) read
    me = psutil.Process()
    tracked = sensor.stats["containers"]
    cpu0, wall0 = sum(me.cpu_times()[:2]), time.monotonic()
    measuring.set()
    time.sleep(seconds)
    measuring.clear()
    cpu1, wall1 = sum(me.cpu_times()[:2]), time.monotonic()
    stats = sensor.stats
    sensor.stop()
    wanted = {c.id for c in client.containers.list(filters={"label": label})} if label else set()
    per = {cid: n for cid, n in counts.items() if not wanted or cid in wanted}
    intervals = int((wall1 - wall0) // sensor.interval_s)
    return {"seconds": wall1 - wall0, "cpu_s": cpu1 - cpu0, "cpu_share_of_core": (cpu1 - cpu0) / (wall1 - wall0),
            "tracked": tracked, "containers": len(wanted) or len(per), "intervals": intervals,
            "samples": sum(per.values()), "missed": missed_samples(per, len(wanted) or len(per), intervals - 1),
            "sample_us_last": stats.get("sample_us"), "sensor_stats": stats}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.sampler")
    parser.add_argument("--docker-host", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--label", help="count only containers with this label (key=value)")
    args = parser.parse_args(argv)
    sys.stdout.write(orjson.dumps(run(args.docker_host, args.seconds, args.warmup, args.label)).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
