"""OCI runtime wrapper installed as the private engine's default runtime.

Why: some hosts (these lab machines among them) run with a capability bounding set that lacks a
capability Docker grants to ``--privileged`` containers (CAP_SYS_RESOURCE here). runc then fails
with "unable to apply caps". The wrapper drops, from the bundle's process spec, every capability
that this host cannot grant, then hands over to the real runc unchanged.

The lab writes this file with the real runc path filled in; it has no dependency beyond Python.
"""

import json
import os
import sys

RUNC = "@RUNC@"

CAP_NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
VALUE_OPTIONS = {"--root", "--log", "--log-format", "--criu"}


def grantable() -> set:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return {name for bit, name in enumerate(CAP_NAMES) if mask >> bit & 1}
    return set(CAP_NAMES)


def subcommand(args: list) -> int:
    i = 0
    while i < len(args):
        if args[i] in VALUE_OPTIONS:
            i += 2
            continue
        if not args[i].startswith("-"):
            return i
        i += 1
    return -1


def option_value(args: list, names: tuple) -> str:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return ""


def filter_caps(process: dict, allowed: set) -> bool:
    caps = process.get("capabilities") or {}
    changed = False
    for key, values in caps.items():
        if isinstance(values, list):
            kept = [c for c in values if c in allowed]
            changed |= len(kept) != len(values)
            caps[key] = kept
    return changed


def rewrite(path: str, nested: bool) -> None:
    with open(path) as handle:
        spec = json.load(handle)
    process = spec.get("process", {}) if nested else spec
    if filter_caps(process, grantable()):
        with open(path, "w") as handle:
            json.dump(spec, handle)


def main() -> None:
    args = sys.argv[1:]
    at = subcommand(args)
    if at >= 0:
        rest = args[at + 1:]
        if args[at] in ("create", "run"):
            bundle = option_value(rest, ("--bundle", "-b")) or os.getcwd()
            rewrite(os.path.join(bundle, "config.json"), nested=True)
        elif args[at] == "exec":
            process_file = option_value(rest, ("--process", "-p"))
            if process_file:
                rewrite(process_file, nested=False)
    os.execv(RUNC, [RUNC, *args])


main()
