"""Does a process's argv[0] name the program that really runs?

argv[0] is whatever the caller of ``execve`` wrote; ``ps`` shows it. A masquerade writes a name the
program does not have ("[kworker/0:1]" for /usr/bin/sleep). Honest programs write many names that
are not the executable's file name, and each of them *leads to* the executable:

- a symlink: ``sh`` is ``/usr/bin/dash``, ``python3`` is ``python3.11``, ``/usr/sbin/nginx`` may
  point at ``/opt/nginx/sbin/nginx``;
- an interpreter script (binfmt_script): the kernel runs the interpreter named on the ``#!`` line
  and rebuilds argv as ``[interpreter, optional argument, script path, ...]``: argv[0] is the
  interpreter as the script spells it (``/bin/sh``), the exec'd path is the script, and the
  executable is the interpreter's real file (``/usr/bin/dash``). The caller's own argv[0] is
  dropped by the kernel, so a script cannot carry a forged one;
- ``#!/usr/bin/env python3``: ``env`` runs first (argv[0] ``/usr/bin/env``), then execs
  ``python3`` from the search path;
- a login shell ("-bash") and a rewritten process title ("nginx: master process ...").

So the question is answered by resolution, not by comparing names: argv[0] matches when, looked up
in the process's own root the way a shell or the kernel would (a path from the process's working
directory, a bare name from the search path), it leads to the very file the process runs (same
device and inode as ``/proc/<pid>/exe``). Symlinks are followed by hand inside the container's root:
an absolute link target means the container's ``/``, not the host's, which the kernel would use if
we let it follow links through ``/proc/<pid>/root``.

A name that leads nowhere, or to another file, is a mismatch. When the process's root cannot be read
(it went away between reads) the old name comparison decides instead, and says so.
"""

from __future__ import annotations

import errno
import os
import posixpath
from dataclasses import dataclass

# The search path a bare argv[0] is looked up in: Debian's default PATH. Not the process's own PATH,
# which is as much the caller's choice as argv[0] is; the exec'd file's own directory is added, so
# /opt/app/bin/app started as "app" still resolves.
SEARCH_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
MAX_SYMLINKS = 40  # the kernel's own limit on links followed in one lookup


@dataclass(frozen=True, slots=True)
class Argv0Judgement:
    matches: bool
    resolved: str  # the container path argv[0] led to ("" when it led nowhere or was not looked up)
    how: str  # "exec-path" | "exe-name" | "resolved" | "claims-nothing" | "kernel-thread-name" | "name-only"
    #           | "unresolved"


def claimed_name(argv0: str) -> str:
    """The program name argv[0] claims, normalised: a login shell's "-" dropped, and a rewritten
    process title ("nginx: master process ...") cut at its first word."""
    words = argv0.split()
    word = words[0] if words else ""
    return word.rstrip(":").lstrip("-")


def names_match(argv0: str, *paths: str) -> bool:
    """The fallback when the filesystem cannot answer: does argv[0]'s base name equal one of these
    paths' base names (or a versioned form of it: python3 -> python3.11)? Interpreter scripts and
    symlinks to differently named files do not match here; that is why it is only the fallback."""
    if argv0.startswith("["):
        return False
    claimed = os.path.basename(claimed_name(argv0))
    if not claimed:
        return True  # an empty argv is odd, but it claims nothing
    for path in paths:
        if not path:
            continue
        base = os.path.basename(path)
        if claimed == base or base.startswith(claimed + ".") or claimed.startswith(base):
            return True  # python3 -> python3.11; comm truncation
    return False


def resolve_in_root(root: str, path: str, cwd: str = "/") -> str | None:
    """The path, inside the filesystem seen at ``root`` (a process's ``/proc/<pid>/root``), that
    ``path`` leads to once every symlink is followed; None when it leads nowhere.

    Links are followed one component at a time with absolute targets restarting at ``root``, so
    what is read is what the process itself would reach, never a host file.
    """
    if not path.startswith("/"):
        path = posixpath.join(cwd or "/", path)
    pending = [part for part in path.split("/") if part not in ("", ".")]
    done: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = "/" + "/".join([*done, part])
        try:
            target = os.readlink(root + candidate)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                return None  # missing, or unreadable: it leads nowhere we can see
            done.append(part)  # not a symlink
            continue
        links += 1
        if links > MAX_SYMLINKS:
            return None
        if target.startswith("/"):
            done = []
        pending = [p for p in target.split("/") if p not in ("", ".")] + pending
    resolved = "/" + "/".join(done)
    return resolved if os.path.exists(root + resolved) else None


def file_identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _candidates(argv0: str, exec_path: str, cwd: str) -> list[str]:
    """The paths argv[0] may stand for: itself (from the working directory) when it holds a "/",
    otherwise each search-path directory, the exec'd file's own first."""
    out: list[str] = []
    for word in dict.fromkeys((claimed_name(argv0), argv0.lstrip("-"))):
        if not word:
            continue
        if "/" in word:
            out.append(word if word.startswith("/") else posixpath.join(cwd or "/", word))
            continue
        dirs = [posixpath.dirname(exec_path)] if exec_path.startswith("/") else []
        out.extend(posixpath.join(d, word) for d in dict.fromkeys([*dirs, *SEARCH_PATH]))
    return out


def judge_argv0(argv0: str, exec_path: str, *, root: str, exe: str, cwd: str = "/",
                executable: str = "") -> Argv0Judgement:
    """Does ``argv0`` name the program this process runs?

    ``exec_path`` is the path given to execve (the tracepoint's filename; "" when unknown), ``root``
    and ``exe`` the process's ``/proc/<pid>/root`` and ``/proc/<pid>/exe``, ``cwd`` its working
    directory as the process sees it, ``executable`` the executable's path (for the fallback).
    """
    if argv0.startswith("["):
        # Kernel threads have no executable at all: no program's name looks like "[kworker/0:1]".
        return Argv0Judgement(False, "", "kernel-thread-name")
    claimed = claimed_name(argv0)
    if not claimed:
        return Argv0Judgement(True, "", "claims-nothing")
    if exec_path and (claimed == exec_path or ("/" not in claimed and claimed == posixpath.basename(exec_path))):
        return Argv0Judgement(True, exec_path, "exec-path")  # the name it was exec'd by
    if executable and "/" not in claimed and claimed == posixpath.basename(executable):
        # The file the kernel runs has that very name, even where its directory is not visible from
        # the process's root (a container runtime re-executing a sealed copy of itself on a private
        # mount: "runc init", executable /runc). Naming a file by its own name hides nothing: a
        # renamed copy (/tmp/kworker) would resolve the same way through its directory.
        return Argv0Judgement(True, executable, "exe-name")
    program = file_identity(exe)
    if program is None or not os.path.isdir(root):
        return Argv0Judgement(names_match(argv0, exec_path, executable), "", "name-only")
    first = ""
    for candidate in _candidates(argv0, exec_path, cwd):
        resolved = resolve_in_root(root, candidate)
        if resolved is None:
            continue
        first = first or resolved
        if file_identity(root + resolved) == program:
            return Argv0Judgement(True, resolved, "resolved")
    return Argv0Judgement(False, first, "unresolved")


__all__ = ["SEARCH_PATH", "Argv0Judgement", "claimed_name", "file_identity", "judge_argv0", "names_match",
           "resolve_in_root"]
