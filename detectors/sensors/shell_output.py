"""Where a container's own stdout and stderr go, read from its command line.

A container's log is what its main process writes to the stdout and stderr the runtime gave it.
A pod spec can send them elsewhere only through a shell: ``sh -c 'exec >/dev/null 2>&1; ...'``,
``sh -c 'server >/var/log/server.log 2>&1'``. Outside a shell a ``>`` is a literal argument, and an
argument such as ``curl -o /dev/null`` is not a redirection at all. So the shell's script is parsed
(shell_syntax.py: quotes, escapes, ``$(...)``, comments, here-documents, lists, pipelines, compound
commands, and redirections with their fd numbers and their order), and this module follows the
shell's own file descriptors 1 and 2:

- ``exec`` with redirections and no command changes them for the rest of the script, wherever it
  runs in the shell itself (top level, ``{ }``, ``if``, loop bodies; not in ``( )``, a pipeline or
  the background, which are other processes);
- the command the container ends in (``exec cmd``, or the script's last command, where the shell
  lives until it exits) writes where its own redirections, applied on top of those, point; a
  compound command's trailing redirections (``while ...; done >/dev/null``) count the same, and a
  shell that runs another ``sh -c`` is followed into it.

The answer is "redirected" when fd 1 or fd 2 of that command does not end at the container's log:
a file (``/dev/null`` or one nobody ships), a closed fd, or an fd the script opened. What this does
not see: redirections of single commands inside a loop whose own output is discarded each time (a
probe's ``curl >/dev/null`` looks the same), targets held in variables, ``eval``, scripts in files
(``sh start.sh``), the image's own entrypoint when the spec gives no command, and programs that
close or reopen their output themselves. A script that does not parse here is judged by a plain
pattern instead (a redirection of fd 1 or 2 to /dev/null or a closed fd anywhere in it), and says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from detectors.sensors.shell_syntax import Command, Item, Redirect, ShellSyntaxError, parse

SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "mksh", "zsh", "busybox"})
# Wrappers that run the rest of their arguments as the command: followed into.
WRAPPERS = frozenset({"env", "nohup", "tini", "dumb-init", "exec"})
LOG = "<container log>"
# Paths that are the container's own output again: the log, not away from it.
_FD_PATHS = {"/dev/stdout": 1, "/dev/stderr": 2, "/dev/fd/1": 1, "/dev/fd/2": 2, "/proc/self/fd/1": 1,
             "/proc/self/fd/2": 2, "/proc/1/fd/1": 1, "/proc/1/fd/2": 2}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True, slots=True)
class OutputRedirect:
    redirected: bool
    targets: tuple[str, ...]  # where fd 1 and fd 2 of the command the container ends in point, when not the log
    parsed: bool = True  # False: the script did not parse here, and a plain pattern decided


# When the script does not parse here (a construct this parser lacks, or a script sh itself would
# refuse), a redirection of fd 1 or 2 to /dev/null or a closed fd anywhere in it decides: a parse
# failure must not be a way to hide.
_UNPARSED_DISCARD = re.compile(r"(?:^|[\s;&|(])(?:[12]|&)?>>?\s*(/dev/null)|(?:^|[\s;&|(])[12]?>&(-)")


# --- following fds 1 and 2 -----------------------------------------------------------------------


def _apply(fds: dict[int, str], redirects: list[Redirect]) -> dict[int, str]:
    """The fd table after these redirections, in order (``2>&1 >/dev/null`` leaves 2 on the log)."""
    fds = dict(fds)
    for r in redirects:
        op, target = r.op, r.target
        if op in ("<", "<<", "<<-", "<&") or (op == "<>" and r.fd is None):
            continue  # input
        if op in ("&>", "&>>") or (op == ">&" and r.fd is None and not target.isdigit() and target != "-"):
            fds[1] = fds[2] = _where(fds, target)
            continue
        fd = 1 if r.fd is None else r.fd
        if op == ">&":
            fds[fd] = "<closed>" if target == "-" else fds.get(int(target), f"<fd {target}>") if target.isdigit() \
                else _where(fds, target)
        else:
            fds[fd] = _where(fds, target)
    return fds


def _where(fds: dict[int, str], path: str) -> str:
    fd = _FD_PATHS.get(path)
    return fds.get(fd, LOG) if fd is not None else path


def _command_words(words: list[str]) -> list[str]:
    """The words of the program a simple command runs: assignments and wrappers skipped."""
    words = list(words)
    while words and _ASSIGNMENT.match(words[0]):
        words.pop(0)
    while words and os.path.basename(words[0]) in WRAPPERS - {"exec"}:
        wrapper = os.path.basename(words.pop(0))
        while words and (words[0].startswith("-") or (wrapper == "env" and _ASSIGNMENT.match(words[0]))):
            if words.pop(0) == "--":
                break
    return words


def _shell_script(words: list[str]) -> str | None:
    """The script of ``sh -c SCRIPT`` (options before it allowed: -e, -lc, -o pipefail), else None."""
    if not words or os.path.basename(words[0]) not in SHELLS:
        return None
    args = words[1:]
    if os.path.basename(words[0]) == "busybox":
        if not args or args[0] not in SHELLS - {"busybox"}:
            return None
        args = args[1:]
    command_mode = False
    while args:
        arg = args.pop(0)
        if arg == "--":
            break
        if arg in ("-o", "+o", "-O", "+O"):
            if args:
                args.pop(0)
            continue
        if len(arg) > 1 and arg[0] in "-+" and arg[1] != "-":
            command_mode = command_mode or "c" in arg[1:]
            continue
        args.insert(0, arg)
        break
    return args[0] if command_mode and args else None


class _Follower:
    """Walks a parsed script as the shell runs it, keeping the shell's own fds 1 and 2, and collects
    the fds of every command the container may end in (``exec cmd`` in a branch is one of them)."""

    def __init__(self, fds: dict[int, str], depth: int) -> None:
        self.fds = fds
        self.depth = depth
        self.ends: list[dict[int, str]] = []
        self.replaced = False  # an exec with a command ran at this level: nothing after it runs

    def run(self, items: list[Item], *, outermost: bool = True) -> list[dict[int, str]]:
        for index, item in enumerate(items):
            last = outermost and index == len(items) - 1
            if item.background or len(item.pipelines) > 1 or len(item.pipelines[0]) > 1:
                if last and not item.background:
                    self._ends_in(item.pipelines[-1][-1], self.fds)  # the shell waits for this one
                continue
            self._step(item.pipelines[0][0], last)
            if self.replaced:
                break
        return self.ends or [self.fds]

    def _step(self, command: Command, last: bool) -> None:
        if command.kind == "simple":
            words = _command_words(command.words)
            if words and words[0] == "exec":
                if len(words) == 1:
                    self.fds = _apply(self.fds, command.redirects)  # for the rest of the script
                else:
                    self._ends_in(Command("simple", words[1:], command.redirects), self.fds)
                    self.replaced = True
            elif last:
                self._ends_in(command, self.fds)
            return
        if command.kind in ("group", "compound"):
            if command.redirects and last:
                self._ends_in(command, self.fds)
                return
            for body in command.bodies:
                # The shell runs the body itself: an exec there changes its own fds, or ends it.
                inner = _Follower(_apply(self.fds, command.redirects), self.depth)
                inner.run(body, outermost=False)
                self.ends.extend(inner.ends)
                if not command.redirects:
                    self.fds = {**self.fds, 1: inner.fds.get(1, LOG), 2: inner.fds.get(2, LOG)}
            return
        if command.kind == "subshell" and last:
            self._ends_in(command, self.fds)

    def _ends_in(self, command: Command, fds: dict[int, str]) -> None:
        fds = _apply(fds, command.redirects)
        if command.kind == "simple":
            words = _command_words(command.words)
            script = _shell_script(_command_words(words[1:]) if words[:1] == ["exec"] else words)
            if script is not None and self.depth < 4:
                self.ends.extend(follow(script, fds, self.depth + 1))
                return
        elif command.kind == "subshell" and command.bodies:
            self.ends.extend(_Follower(fds, self.depth).run(command.bodies[0]))
            return
        self.ends.append(fds)


def follow(script: str, fds: dict[int, str] | None = None, depth: int = 0) -> list[dict[int, str]]:
    """fds 1 and 2 of each command a ``sh -c`` script may end in."""
    start = fds if fds is not None else {1: LOG, 2: LOG}
    return _Follower(dict(start), depth).run(parse(script))


def container_output(argv: list[str]) -> OutputRedirect:
    """Does this container command send its own stdout or stderr away from the container log?"""
    script = _shell_script(_command_words(argv))
    if script is None:
        return OutputRedirect(False, ())  # no shell: a ">" would be a literal argument
    try:
        ends = follow(script)
    except (ShellSyntaxError, RecursionError):
        found = tuple(dict.fromkeys("/dev/null" if m.group(1) else "<closed>"
                                    for m in _UNPARSED_DISCARD.finditer(script)))
        return OutputRedirect(bool(found), found, parsed=False)
    targets = tuple(dict.fromkeys(end[fd] for end in ends for fd in (1, 2) if end.get(fd, LOG) != LOG))
    return OutputRedirect(bool(targets), targets)


__all__ = ["LOG", "OutputRedirect", "container_output", "follow"]
