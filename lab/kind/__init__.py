"""Offline kind: a node image assembled from Go modules and Debian packages, and its clusters.

``kind build node-image`` fetches images from registries, which these machines cannot reach. The
builder here does what it does by hand: a debootstrap base with systemd, Kubernetes and runtime
binaries built from their Go modules, control-plane images made from those binaries and imported
into the node's containerd under the exact names kubeadm expects, then a commit.
"""

from lab.kind.recipe import NodeRecipe

__all__ = ["NodeRecipe"]
