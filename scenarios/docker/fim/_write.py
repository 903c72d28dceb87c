"""The ways a payload writes a line into a file inside a container, for FIM scenarios' variants.

Each is a different path through the filesystem: an append in place (``>>``, O_APPEND on the
existing file, copied up from the image first), an atomic replace (write a temporary copy beside
it and rename it over, as editors, config tools and ``sed -i`` do), and the program's own open and
write from Python instead of a shell.
"""

from __future__ import annotations

import shlex

METHODS = ("append", "rename", "python")
METHODS_DOC = ("how the line is written: appended in place by a shell, a copy written beside the file and "
               "renamed over it (as editors and sed -i do), or appended from Python")


def write_line(method: str, path: str, line: str) -> str:
    """A shell command that adds ``line`` to ``path`` (creating it and its directory) by ``method``."""
    directory = path.rsplit("/", 1)[0] or "/"
    quoted, target = shlex.quote(line), shlex.quote(path)
    mkdir = f"mkdir -p {shlex.quote(directory)} && "
    if method == "append":
        return f"{mkdir}printf '%s\\n' {quoted} >> {target}"
    if method == "rename":
        staged = shlex.quote(f"{directory}/.{path.rsplit('/', 1)[1]}.new")
        return (f"{mkdir}{{ cat {target} 2>/dev/null; printf '%s\\n' {quoted}; }} > {staged} && "
                f"chmod 644 {staged} && mv -f {staged} {target}")
    if method == "python":
        program = f"open({path!r}, 'a').write({line!r} + '\\n')"
        return f"{mkdir}python3 -c {shlex.quote(program)}"
    raise ValueError(f"unknown write method {method!r}")
