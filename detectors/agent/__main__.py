"""``python -m detectors.agent``: run the node agent until SIGTERM (the DaemonSet's container command)."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from detectors.agent import wire
from detectors.agent.node import NodeAgent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detectors.agent", description=__doc__)
    parser.add_argument("--node", default=os.environ.get("NODE_NAME", ""),
                        help="the node's name, put on every event (default: $NODE_NAME, from the pod's spec)")
    parser.add_argument("--proc", default="/proc", help="the node's /proc (the agent runs with hostPID)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds (tests)")
    default_interval = float(os.environ.get("STOWAWAY_AGENT_HEALTH_S") or wire.HEALTH_INTERVAL_S)
    parser.add_argument("--health-interval", type=float, default=default_interval,
                        metavar="SECONDS", help="how often a health line (sensor states, the agent's own CPU and "
                        "memory) is written (default 10, or $STOWAWAY_AGENT_HEALTH_S)")
    args = parser.parse_args(argv)
    if not args.node:
        parser.error("--node or $NODE_NAME is required: every event names the node it came from")
    if args.health_interval <= 0:
        parser.error("--health-interval must be positive")
    agent = NodeAgent(args.node, proc=args.proc, health_interval_s=args.health_interval)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: agent.stop())
    agent.run(args.duration)
    return 0


if __name__ == "__main__":
    sys.exit(main())
