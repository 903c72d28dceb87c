"""Assemble the kind node image offline, the way ``kind build node-image`` does, step by step.

1. Go tools from the module proxy (Kubernetes, kind, containerd, runc, crictl, CNI, etcd, coredns).
2. ``pause``: a tiny static C program of our own (the sandbox holder does nothing but wait).
3. The node base: debootstrap bookworm (systemd 252) with what kubelet/kubeadm need, plus our
   binaries and configs, ``docker import``-ed.
4. Control-plane and add-on images: a tiny rootfs holding one static binary each, ``docker
   import``-ed under the exact names kubeadm expects, then ``docker save``-d.
5. A container of the base imports those archives into its containerd (``ctr images import``),
   and is committed; a last ``docker build FROM`` it sets the stop signal (``docker import``
   refuses STOPSIGNAL on Docker 20.10).

Every step is cached under the state directory by a digest of its inputs, and timed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors

from lab.engine import Engine
from lab.errors import LabError
from lab.kind.gobuild import build_tool
from lab.kind.recipe import NETWORK_POLICY_IMAGE, NodeRecipe, digest, state_dir
from lab.naming import is_bookkeeping_label

ASSETS = Path(__file__).parent / "assets"
PAUSE_VERSION = "3.10.1"
Log = Callable[[str], None]


@dataclass(slots=True)
class BuildReport:
    image: str = ""
    steps: list[tuple[str, float, bool]] = field(default_factory=list)  # (step, seconds, was cached)

    @contextlib.contextmanager
    def step(self, name: str, cached: bool, log: Log) -> Iterator[None]:
        log(f"[kind-image] {name}: {'cached' if cached else 'building'}")
        started = time.monotonic()
        yield
        seconds = time.monotonic() - started
        self.steps.append((name, seconds, cached))
        log(f"[kind-image] {name}: {'cached' if cached else 'built'} in {seconds:.1f}s")

    def table(self) -> str:
        rows = [f"{'step':<34} {'seconds':>9}  cached"]
        rows += [f"{name:<34} {seconds:>9.1f}  {'yes' if cached else 'no'}" for name, seconds, cached in self.steps]
        rows.append(f"{'total':<34} {sum(s for _, s, _ in self.steps):>9.1f}")
        return "\n".join(rows)


def assets_digest() -> str:
    """What the node image bakes in (assets/rootfs); the cluster-time assets do not change it."""
    h = hashlib.sha256()
    root = ASSETS / "rootfs"
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


# --- step 2: pause ------------------------------------------------------------------------
PAUSE_C = r"""
/* The pod sandbox holder: hold the namespaces, reap orphans, exit on TERM/INT. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
    struct sigaction q = {.sa_handler = quit}, r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
    sigaction(SIGINT, &q, NULL); sigaction(SIGTERM, &q, NULL); sigaction(SIGCHLD, &r, NULL);
    for (;;) pause();
}
"""


def build_pause(state: Path) -> Path:
    out = state / "bin" / f"pause-{digest(PAUSE_C)}" / "pause"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "pause.c"
        src.write_text(PAUSE_C)
        result = subprocess.run(["gcc", "-Os", "-static", "-o", str(out) + ".partial", str(src)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LabError(f"building pause failed: {result.stderr[-1500:]}")
        subprocess.run(["strip", str(out) + ".partial"], check=False)
    Path(str(out) + ".partial").rename(out)
    return out


# --- step 3: node base rootfs -------------------------------------------------------------
def bootstrap_rootfs(recipe: NodeRecipe, state: Path, log: Log) -> Path:
    tarball = state / "rootfs" / f"node-base-{recipe.base_key()}.tar"
    if tarball.exists():
        return tarball
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kind-rootfs-", dir=tarball.parent) as tmp:
        root = Path(tmp) / "root"
        command = ["debootstrap", "--variant=minbase", f"--include={','.join(recipe.packages)}", recipe.suite,
                   str(root), recipe.mirror]
        log(f"  {' '.join(command[:3])} ... {recipe.suite}")
        result = subprocess.run(["nice", "-n", "19", *command], capture_output=True, text=True, timeout=3600,
                                check=False)
        if result.returncode != 0:
            raise LabError(f"debootstrap failed ({result.returncode}): {result.stdout[-1500:]}{result.stderr[-1500:]}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                     "usr/share/locale"):
            shutil.rmtree(root / junk, ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
    return tarball


# --- helpers on the engine ----------------------------------------------------------------
def _image_exists(engine: Engine, tag: str) -> bool:
    try:
        engine.client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _cli(engine: Engine, *args: str, timeout: float = 1800) -> str:
    result = engine.cli(*args, timeout=timeout)
    if result.returncode != 0:
        raise LabError(f"`docker {' '.join(args[:4])}...` failed: {result.stderr.decode(errors='replace')[-2000:]}")
    return result.stdout.decode(errors="replace")


def _single_binary_rootfs(binary: Path, target: str) -> bytes:
    """A tar of a root filesystem holding one static binary (plus /tmp and an /etc/passwd)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("tmp", "etc", "var", "usr", "usr/local", "usr/local/bin"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        passwd = b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
        tar.add(str(binary), arcname=target.lstrip("/"))
    return buffer.getvalue()


# --- step 4: control-plane images ---------------------------------------------------------
def expected_images(kubeadm: Path, kubernetes: str) -> dict[str, str]:
    """kubeadm's own list of the images it will run, keyed by short name ("etcd", "pause", ...)."""
    result = subprocess.run([str(kubeadm), "config", "images", "list", f"--kubernetes-version=v{kubernetes}"],
                            capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise LabError(f"kubeadm config images list failed: {result.stderr[-1000:]}")
    images = {}
    for line in result.stdout.split():
        name = line.rsplit("/", 1)[-1].split(":", 1)[0]
        images[name] = line
    return images


def _plan(bins: dict[str, Path]) -> dict[str, tuple[Path, str, str | None]]:
    """The images that are one static binary each. kube-proxy is not one of them: it runs iptables,
    so its image is the node base (bookworm's iptables and nftables) with the binary added."""
    return {  # short name -> (binary, path in the image, entrypoint)
        "kube-apiserver": (bins["kubernetes"] / "kube-apiserver", "/usr/local/bin/kube-apiserver", None),
        "kube-controller-manager": (bins["kubernetes"] / "kube-controller-manager",
                                    "/usr/local/bin/kube-controller-manager", None),
        "kube-scheduler": (bins["kubernetes"] / "kube-scheduler", "/usr/local/bin/kube-scheduler", None),
        "etcd": (bins["etcd"] / "etcd", "/usr/local/bin/etcd", None),
        "coredns": (bins["coredns"] / "coredns", "/coredns", "/coredns"),
        "pause": (bins["pause"] / "pause", "/pause", "/pause"),
        "kube-network-policies": (bins["kube-network-policies"] / "cmd", "/usr/local/bin/kube-network-policies",
                                  "/usr/local/bin/kube-network-policies"),
    }


def _image_names(images: dict[str, str]) -> dict[str, str]:
    """kubeadm's images, and the lab's NetworkPolicy enforcer."""
    return {**images, "kube-network-policies": NETWORK_POLICY_IMAGE}


def control_plane_archive(bins: dict[str, Path], images: dict[str, str], state: Path, base_tag: str = "") -> Path:
    plan = _plan(bins)
    names = _image_names(images)
    key = digest({name: (names.get(name), str(src.parent), target) for name, (src, target, _) in plan.items()},
                 names.get("kube-proxy"), str(bins["kubernetes"]), base_tag)
    return state / "images" / f"control-plane-{key}.tar"


def control_plane_images(engine: Engine, bins: dict[str, Path], images: dict[str, str], state: Path,
                         log: Log, base_tag: str) -> Path:
    """One docker archive with every image the cluster runs: kubeadm's (each a static binary in a tiny
    rootfs, kube-proxy on the node base) and the NetworkPolicy enforcer."""
    plan = _plan(bins)
    images = _image_names(images)
    missing = (set(plan) | {"kube-proxy"}) - set(images)
    if missing:
        raise LabError(f"kubeadm does not list images for {sorted(missing)}: {images}")
    archive = control_plane_archive(bins, images, state, base_tag)
    if archive.exists():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    for name, (binary, target, entrypoint) in plan.items():
        changes = ["--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin"]
        if entrypoint:
            changes += ["--change", f'ENTRYPOINT ["{entrypoint}"]']
        log(f"  docker import {images[name]}")
        result = engine.cli("import", *changes, "-", images[name], input=_single_binary_rootfs(binary, target))
        if result.returncode != 0:
            raise LabError(f"docker import {images[name]} failed: {result.stderr.decode(errors='replace')}")
    _kube_proxy_image(engine, bins["kubernetes"] / "kube-proxy", base_tag, images["kube-proxy"], log)
    partial = archive.with_suffix(".partial")
    _cli(engine, "save", "-o", str(partial), *[images[name] for name in (*plan, "kube-proxy")])
    partial.rename(archive)
    return archive


def _kube_proxy_image(engine: Engine, binary: Path, base_tag: str, tag: str, log: Log) -> None:
    log(f"  docker build {tag} (node base + kube-proxy)")
    with tempfile.TemporaryDirectory(prefix="kube-proxy-") as tmp:
        shutil.copy2(binary, Path(tmp) / "kube-proxy")
        (Path(tmp) / "Dockerfile").write_text(f"FROM {base_tag}\nCOPY kube-proxy /usr/local/bin/kube-proxy\n"
                                              'ENTRYPOINT ["/usr/local/bin/kube-proxy"]\n')
        _cli(engine, "build", "-q", "-t", tag, tmp)


# --- step 5: assemble the node image ------------------------------------------------------
NODE_SETUP = r"""
set -eu
cp -a /ctx/rootfs/. /
sed -i "s|@PAUSE_VERSION@|$PAUSE_VERSION|" /etc/containerd/config.toml
mkdir -p /etc/cni/net.d  # each node's CNI config is written at cluster time, with its own pod range
printf 'v%s\n' "$KUBERNETES" > /kind/version
mkdir -p /etc/kubernetes/manifests /var/lib/kubelet /var/lib/containerd /var/log/kubernetes/audit
# A node container starts only what Kubernetes needs: no gettys, no udev, no kernel log reader.
rm -f /etc/systemd/system/*.wants/* /lib/systemd/system/multi-user.target.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/sysinit.target.wants/systemd-udev*
systemctl mask systemd-binfmt.service systemd-udevd.service getty.target console-getty.service \
      systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount 2>/dev/null
systemctl enable containerd.service kubelet.service
echo ReadKMsg=no >> /etc/systemd/journald.conf
# Import every image into the node's containerd content store. No unpack: the build container's
# root is overlayfs, where the overlay snapshotter cannot run; the node unpacks on first use.
containerd --log-level warn >/tmp/containerd.log 2>&1 &
pid=$!
i=0
until ctr version >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 100 ] || { cat /tmp/containerd.log; exit 1; }; sleep 0.2
done
ctr -n k8s.io images import --no-unpack --all-platforms /ctx/images.tar
ctr -n k8s.io images ls -q
kill $pid; wait $pid || true
rm -rf /tmp/* /run/containerd /var/lib/containerd/io.containerd.snapshotter.v1.* 2>/dev/null || true
: > /etc/machine-id
"""

STOP_DOCKERFILE = """FROM {source}
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
"""


def _stage_context(ctx: Path, bins: dict[str, Path], archive: Path) -> None:
    rootfs = ctx / "rootfs"
    shutil.copytree(ASSETS / "rootfs", rootfs, symlinks=True)
    placement = {
        "usr/bin": [bins["kubernetes"] / n for n in ("kubeadm", "kubelet", "kubectl")],
        "usr/local/bin": [bins["containerd"] / n for n in ("containerd", "containerd-shim-runc-v2", "ctr")]
        + [bins["runc"] / "runc", bins["crictl"] / "crictl"],
        "opt/cni/bin": [bins["cni-plugins"] / n for n in ("bridge", "loopback", "host-local", "portmap")],
    }
    for directory, files in placement.items():
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
        for binary in files:
            if not binary.exists():
                raise LabError(f"expected binary missing: {binary}")
            shutil.copy2(binary, rootfs / directory / binary.name)
    # hard link, not copy: the archive is hundreds of megabytes
    try:
        (ctx / "images.tar").hardlink_to(archive)
    except OSError:
        shutil.copy2(archive, ctx / "images.tar")


def assemble(engine: Engine, recipe: NodeRecipe, base_tag: str, bins: dict[str, Path], archive: Path,
             tag: str, state: Path, log: Log) -> None:
    # No run label on the build container: `docker commit` copies a container's labels into the
    # image, every node started from it would carry the label, and any run's reaper would take
    # those nodes for a dead run's leftovers. The container is removed in `finally` instead.
    name = f"kind-build-{int(time.time())}-{__import__('os').getpid()}"
    with tempfile.TemporaryDirectory(prefix="kind-ctx-", dir=state) as tmp:
        ctx = Path(tmp)
        _stage_context(ctx, bins, archive)
        committed = f"{tag}-stage"
        try:
            _cli(engine, "run", "-d", "--name", name, "--privileged", "--network", "none",
                 "-v", f"{ctx}:/ctx:ro", "--entrypoint", "/bin/sleep", base_tag, "infinity")
            output = _cli(engine, "exec", "-e", f"PAUSE_VERSION={PAUSE_VERSION}",
                          "-e", f"KUBERNETES={recipe.kubernetes}", name, "sh", "-c", NODE_SETUP)
            log("  images in the node's containerd:\n    " + "\n    ".join(output.split()))
            _cli(engine, "commit", "--change", "CMD []", "--change", 'ENTRYPOINT ["/usr/local/bin/entrypoint"]',
                 name, committed)
        finally:
            engine.cli("rm", "-f", "-v", name)
        dockerfile = ctx / "final"
        dockerfile.mkdir()
        (dockerfile / "Dockerfile").write_text(STOP_DOCKERFILE.format(source=committed))
        _cli(engine, "build", "-q", "-t", tag, str(dockerfile))
        engine.cli("rmi", committed)
        labels = engine.client.images.get(tag).labels or {}
        if any(is_bookkeeping_label(key) for key in labels):
            raise LabError(f"the node image carries lab bookkeeping labels {labels}: reapers would take its nodes")


def import_base(engine: Engine, tarball: Path, tag: str) -> None:
    with open(tarball, "rb") as stream:
        result = subprocess.run(["docker", "-H", engine.base_url, "import", "-", tag], stdin=stream,
                                capture_output=True, timeout=1800, check=False)
    if result.returncode != 0:
        raise LabError(f"docker import of the node base failed: {result.stderr.decode(errors='replace')}")


# --- the whole build ----------------------------------------------------------------------
def build_node_image(engine: Engine, recipe: NodeRecipe | None = None, log: Log = print) -> BuildReport:
    """Build (or find) the node image. Returns the report; ``report.image`` is the tag to use."""
    recipe = recipe or NodeRecipe()
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    report = BuildReport(image=recipe.tag(assets_digest()))
    if _image_exists(engine, report.image):
        with report.step("node image", cached=True, log=log):
            pass
        return report
    log(f"building the kind node image {report.image}: the first build on two cores takes 9-16 minutes "
        "(Go builds of Kubernetes, containerd, runc, etcd, CoreDNS; debootstrap); cached steps are skipped, "
        "and later runs reuse the image")
    bins: dict[str, Path] = {}
    for tool in recipe.tools():
        done = (state / "bin" / f"{tool.name}-{tool.key()}" / ".complete").exists()
        with report.step(f"go: {tool.name} {tool.version}", cached=done, log=log):
            bins[tool.name] = build_tool(tool, state, log)
    pause_done = any((state / "bin").glob(f"pause-{digest(PAUSE_C)}/pause"))
    with report.step("pause (C, static)", cached=pause_done, log=log):
        bins["pause"] = build_pause(state).parent
    rootfs_done = (state / "rootfs" / f"node-base-{recipe.base_key()}.tar").exists()
    with report.step("debootstrap node base", cached=rootfs_done, log=log):
        tarball = bootstrap_rootfs(recipe, state, log)
    base_tag = f"stowaway/kind-base:{recipe.base_key()}"
    with report.step("docker import node base", cached=_image_exists(engine, base_tag), log=log):
        if not _image_exists(engine, base_tag):
            import_base(engine, tarball, base_tag)
    images = expected_images(bins["kubernetes"] / "kubeadm", recipe.kubernetes)
    cp_done = control_plane_archive(bins, images, state, base_tag).exists()
    with report.step("cluster images", cached=cp_done, log=log):
        archive = control_plane_images(engine, bins, images, state, log, base_tag)
    with report.step("assemble node image", cached=False, log=log):
        assemble(engine, recipe, base_tag, bins, archive, report.image, state, log)
    (state / "node-image.json").write_text(json.dumps({"image": report.image, "images": images}, indent=2))
    for old in engine.client.images.list(name="stowaway/kind-node"):  # earlier recipes' node images
        if report.image not in old.tags:
            assert old.id is not None  # a listed image has one; docker-py types it optional
            with contextlib.suppress(docker.errors.APIError):
                engine.client.images.remove(old.id, force=False)
    return report
