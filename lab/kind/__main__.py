"""``python -m lab.kind build``: build (or find) the offline kind node image, with per-step timings."""

from __future__ import annotations

import argparse
import sys
import time

from lab import engine as engine_mod
from lab.kind.nodeimage import build_node_image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.kind")
    parser.add_argument("command", choices=("build",))
    parser.add_argument("--docker-host", default=None, help="engine to build on (default: the lab's private one)")
    args = parser.parse_args(argv)
    lease = f"kind-image-{int(time.time())}"
    engine = engine_mod.acquire(lease, args.docker_host)
    try:
        report = build_node_image(engine, log=lambda line: print(line, flush=True))
    finally:
        engine_mod.release(engine, lease)
    print(report.table())
    print(f"node image: {report.image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
