"""What goes into the kind node image: pinned versions, and the cache keys derived from them.

Every part is cached under the lab's state directory by a digest of its own recipe, so changing one
version rebuilds that part and what depends on it, and a second build of an unchanged recipe builds
nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

KUBERNETES_VERSION = "1.34.4"  # 1.34: the last minor that accepts cgroup v1 without failCgroupV1: false
KIND_VERSION = "0.30.0"  # its node config template targets kubeadm v1beta4 (1.31+)
KUBE_NETWORK_POLICIES_VERSION = "v0.8.0"
NETWORK_POLICY_IMAGE = f"stowaway/kube-network-policies:{KUBE_NETWORK_POLICIES_VERSION}"
WORKERS = 2  # scenarios land on workers; the control plane keeps its NoSchedule taint
# The kubelet's default is 110 pods; the bench fills a worker to 100 idle pods beside its own
# (kube-proxy, the node agent) and the scenarios it then runs there. A node's /24 of POD_SUBNET has room.
MAX_PODS = 130
# Pods and services live inside the lab range too: no address a node hands out leaves 198.18.0.0/15.
# Taken elsewhere: lab lan/dev 198.18.0-191.x, lab inet 198.19.0-95.x, kind node networks
# 198.19.100-127.x, the swarm pool 198.19.128.0/18 and the engine pool 198.19.192.0/18.
POD_SUBNET = "198.18.224.0/20"  # kube-controller-manager gives each node a /24 of it
SERVICE_SUBNET = "198.18.240.0/20"


def state_dir() -> Path:
    """Lab-owned cache of Go modules, build cache, binaries, rootfs tarballs and image archives."""
    base = Path(os.environ.get("STOWAWAY_STATE", "/var/lib/stowaway"))
    return Path(os.environ.get("STOWAWAY_KIND_STATE", str(base / "kind")))


def digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class GoTool:
    """One Go module built from the module proxy through a generated wrapper module."""

    name: str  # cache directory name
    module: str  # module path to require
    version: str  # module version ("v1.2.3")
    packages: tuple[str, ...]  # main packages to build (import paths)
    cgo: bool = False
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()  # -X flags and the like, joined with spaces
    main_source: str | None = None  # a tiny main package of our own, when the module ships none
    staging_replaces: bool = False  # k8s.io/kubernetes: replace every ./staging module with its v0 tag
    go_directive: str | None = None  # pin the wrapper's go/godebug lines (kubernetes builds as go1.24)
    debs: tuple[str, ...] = ()  # Debian -dev packages whose headers/libraries cgo needs (apt-get download)

    def key(self) -> str:
        return digest(asdict(self))


def _k8s_version_ldflags(version: str) -> tuple[str, ...]:
    # What kubernetes' hack/lib/version.sh sets: kubeadm compares these against the node's version.
    major, minor, _ = version.split(".")
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion=v{version}", f"-X {package}.gitMajor={major}", f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitCommit=0000000000000000000000000000000000000000", f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate=2026-02-10T12:53:36Z",
        ]
    return tuple(flags)


ETCD_MAIN = """package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""


def go_tools(kubernetes: str = KUBERNETES_VERSION) -> tuple[GoTool, ...]:
    k8s_cmds = ("kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                "kube-proxy")
    return (
        GoTool("kubernetes", "k8s.io/kubernetes", f"v{kubernetes}",
               tuple(f"k8s.io/kubernetes/cmd/{c}" for c in k8s_cmds),
               ldflags=_k8s_version_ldflags(kubernetes), staging_replaces=True, go_directive="1.24.0"),
        GoTool("kind", "sigs.k8s.io/kind", f"v{KIND_VERSION}", ("sigs.k8s.io/kind",)),
        GoTool("containerd", "github.com/containerd/containerd/v2", "v2.2.9",
               ("github.com/containerd/containerd/v2/cmd/containerd",
                "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
                "github.com/containerd/containerd/v2/cmd/ctr"),
               tags=("no_btrfs", "no_devmapper", "no_zfs"),
               ldflags=("-X github.com/containerd/containerd/v2/version.Version=v2.2.9",)),
        # runc needs cgo (its nsenter is C) and seccomp: kubeadm's static pods ask for RuntimeDefault.
        # libseccomp's headers and static library come from the Debian -dev package, unpacked in the
        # state directory (the build host is not changed), so runc links it in statically.
        GoTool("runc", "github.com/opencontainers/runc", "v1.3.7", ("github.com/opencontainers/runc",),
               cgo=True, tags=("seccomp",), ldflags=("-X main.version=1.3.7",), debs=("libseccomp-dev",)),
        GoTool("crictl", "sigs.k8s.io/cri-tools", "v1.34.0", ("sigs.k8s.io/cri-tools/cmd/crictl",)),
        GoTool("cni-plugins", "github.com/containernetworking/plugins", "v1.9.1",
               tuple(f"github.com/containernetworking/plugins/plugins/{p}"
                     for p in ("main/bridge", "main/loopback", "ipam/host-local", "meta/portmap"))),
        GoTool("etcd", "go.etcd.io/etcd/server/v3", "v3.6.16", (), main_source=ETCD_MAIN),
        GoTool("coredns", "github.com/coredns/coredns", "v1.14.7", ("github.com/coredns/coredns",)),
        # NetworkPolicy's judge: the library kind's own CNI embeds, run unchanged as a DaemonSet. It
        # reads verdict requests from NFQUEUE; the lab's iptables rules feed it (lab/kind/network.py).
        GoTool("kube-network-policies", "sigs.k8s.io/kube-network-policies", KUBE_NETWORK_POLICIES_VERSION,
               ("sigs.k8s.io/kube-network-policies/cmd",)),
    )


@dataclass(frozen=True, slots=True)
class NodeRecipe:
    kubernetes: str = KUBERNETES_VERSION
    suite: str = "bookworm"  # systemd 252: systemd >= 256 refuses cgroup v1, which these hosts run
    mirror: str = field(default_factory=lambda: os.environ.get("STOWAWAY_DEBIAN_MIRROR", "http://deb.debian.org/debian"))
    # Why each package: what kubelet, kubeadm, containerd and kind's own steps run on a node.
    packages: tuple[str, ...] = (
        "systemd", "systemd-sysv", "dbus",  # the node's init; kubelet and containerd are units
        "iptables", "nftables", "conntrack", "ebtables", "ethtool", "socat",  # kubelet, CNI, port-forward
        "iproute2", "mount", "util-linux", "kmod", "procps", "ca-certificates", "libseccomp2",
        "bash", "coreutils", "findutils", "e2fsprogs",  # kind's and kubeadm's shell steps
    )

    def tools(self) -> tuple[GoTool, ...]:
        return go_tools(self.kubernetes)

    def base_key(self) -> str:
        return digest(self.suite, self.mirror, self.packages)

    def key(self, assets_digest: str) -> str:
        return digest(self.base_key(), [t.key() for t in self.tools()], assets_digest, POD_SUBNET)

    def tag(self, assets_digest: str) -> str:
        return f"stowaway/kind-node:v{self.kubernetes}-{self.key(assets_digest)}"
