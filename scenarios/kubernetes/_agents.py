"""The node agents a lab cluster runs, as anyone who lists its DaemonSets sees them: (namespace,
service account, DaemonSet). The platform's own is set up by the scenarios that need it; the
detectors' node agent already runs on every node of a lab cluster."""

from __future__ import annotations

PLATFORM_AGENT = ("platform-agents", "node-agent", "node-agent")
DETECTORS_AGENT = ("stowaway-system", "stowaway-node-agent", "stowaway-node-agent")
