"""Build Go programs from the module proxy through a generated wrapper module.

Why a wrapper: ``k8s.io/kubernetes`` cannot be ``go install``-ed (its go.mod points the staging
modules at local paths), and a wrapper is the one shape that builds every tool the same way: a
``go.mod`` that requires the module (and, for Kubernetes, replaces each staging module with its
``v0.Y.Z`` tag), a ``tools.go`` naming the main packages, ``go mod tidy``, ``go build``.

Builds run under ``nice -n 19`` with ``-p=2``: these machines have two cores shared with other
people's integration tests. The module cache and the build cache live in the lab's state
directory, so a rebuild after a recipe change is warm.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from lab.errors import LabError
from lab.kind.recipe import GoTool

GO_PARALLELISM = os.environ.get("STOWAWAY_GO_PARALLELISM", "2")


def go_env(state: Path, cgo: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "GOMODCACHE": str(state / "gomodcache"),
        "GOCACHE": str(state / "gocache"),
        "GOTOOLCHAIN": "local",  # never download another toolchain behind our back
        "GOFLAGS": f"-p={GO_PARALLELISM}",
        "CGO_ENABLED": "1" if cgo else "0",
    })
    return env


def unpack_debs(names: tuple[str, ...], state: Path) -> Path:
    """``apt-get download`` each package once and unpack it under ``state/debs/root`` (no install)."""
    debs = state / "debs"
    root = debs / "root"
    debs.mkdir(parents=True, exist_ok=True)
    for name in names:
        marker = debs / f".{name}.unpacked"
        if marker.exists():
            continue
        for stale in debs.glob(f"{name}_*.deb"):
            stale.unlink()
        result = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True, text=True,
                                timeout=600, check=False)
        archives = list(debs.glob(f"{name}_*.deb"))
        if not archives:
            raise LabError(f"apt-get download {name} failed: {result.stderr[-1000:]}")
        subprocess.run(["dpkg-deb", "-x", str(archives[0]), str(root)], check=True, timeout=300)
        marker.write_text(archives[0].name + "\n")
    return root


def cgo_env(env: dict[str, str], root: Path) -> dict[str, str]:
    """Point cgo (and pkg-config) at the unpacked -dev packages; prefer their static libraries."""
    libdir = root / "usr" / "lib" / "x86_64-linux-gnu"
    env = dict(env)
    env["PKG_CONFIG_SYSROOT_DIR"] = str(root)
    env["PKG_CONFIG_PATH"] = str(libdir / "pkgconfig")
    env["CGO_CFLAGS"] = f"-I{root / 'usr' / 'include'}"
    # Only the .a is used: the .so in a -dev package is a symlink to the runtime package's library.
    for so in libdir.glob("*.so"):
        if so.is_symlink() and not so.exists():
            so.unlink()
    env["CGO_LDFLAGS"] = f"-L{libdir}"
    return env


def _go(args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    go = shutil.which("go")
    if go is None:
        raise LabError("Go is missing: install Go >= 1.24 (the kind node image builds from Go modules)")
    result = subprocess.run(["nice", "-n", "19", go, *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    if result.returncode != 0:
        raise LabError(f"`go {' '.join(args[:3])}...` in {cwd} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def staging_replaces(module: str, version: str, cwd: Path, env: dict[str, str]) -> dict[str, str]:
    """Each ``k8s.io/x => ./staging/src/k8s.io/x`` of that kubernetes release, as ``k8s.io/x v0.Y.Z``."""
    info = json.loads(_go(["mod", "download", "-json", f"{module}@{version}"], cwd, env, 900))
    staged = {}
    for line in Path(info["GoMod"]).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>" and parts[2].startswith("./staging/"):
            staged[parts[0]] = "v0." + version.split(".", 1)[1]
    if not staged:
        raise LabError(f"{module}@{version}: no staging replaces found in its go.mod")
    return staged


def wrapper_files(tool: GoTool, replaces: dict[str, str]) -> dict[str, str]:
    lines = [f"module stowaway.lab/kindbuild/{tool.name}", ""]
    if tool.go_directive:
        minor = ".".join(tool.go_directive.split(".")[:2])
        lines += [f"go {tool.go_directive}", "", f"godebug default=go{minor}", ""]
    lines += [f"require {tool.module} {tool.version}", ""]
    lines += [f"replace {mod} => {mod} {ver}" for mod, ver in sorted(replaces.items())]
    files = {"go.mod": "\n".join(lines) + "\n"}
    if tool.packages:
        imports = "\n".join(f'\t_ "{p}"' for p in tool.packages)
        files["tools.go"] = f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"
    if tool.main_source:
        files["main.go"] = tool.main_source
    return files


def build_tool(tool: GoTool, state: Path, log: Callable[[str], None] = print) -> Path:
    """Build one tool into ``state/bin/<name>-<key>/`` and return that directory (cached)."""
    out = state / "bin" / f"{tool.name}-{tool.key()}"
    if (out / ".complete").exists():
        return out
    work = state / "src" / tool.name
    work.mkdir(parents=True, exist_ok=True)
    env = go_env(state, tool.cgo)
    if tool.debs:
        env = cgo_env(env, unpack_debs(tool.debs, state))
    replaces = staging_replaces(tool.module, tool.version, work, env) if tool.staging_replaces else {}
    for generated in ("go.mod", "go.sum", "tools.go", "main.go"):
        (work / generated).unlink(missing_ok=True)
    for name, text in wrapper_files(tool, replaces).items():
        (work / name).write_text(text)
    if not tool.go_directive:
        _go(["mod", "edit", "-go=1.24.0"], work, env, 60)
    _go(["get", f"{tool.module}@{tool.version}"], work, env, 1800)
    _go(["mod", "tidy"], work, env, 1800)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    packages = list(tool.packages) or ["."]
    args = ["build", "-trimpath", "-ldflags", " ".join(("-s", "-w", *tool.ldflags)), "-o", str(staging) + "/"]
    if tool.tags:
        args += ["-tags", ",".join(tool.tags)]
    log(f"  go build {tool.module}@{tool.version}: {', '.join(p.rsplit('/', 1)[-1] for p in packages)}")
    _go([*args, *packages], work, env, 4 * 3600)
    if not tool.packages:  # our own main package builds as the wrapper's name
        built = staging / tool.name.split("-")[0]
        if not built.exists():
            produced = [p for p in staging.iterdir()]
            if len(produced) == 1:
                produced[0].rename(built)
    (staging / ".complete").write_text(tool.key() + "\n")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    for stale in out.parent.glob(f"{tool.name}-*"):  # earlier recipes of this tool
        if stale != out and stale.name.removeprefix(f"{tool.name}-").isalnum():
            shutil.rmtree(stale, ignore_errors=True)
    return out
