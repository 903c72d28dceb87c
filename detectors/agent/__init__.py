"""The detectors' node agent: sensors that need a node's own view, run on every node (a DaemonSet)."""
