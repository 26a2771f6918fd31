"""One cgroup per call: limits memory (swap included), pids and CPU share; measures usage.

The executor creates `<controller>/<parent>/<name>` itself (cgroup v1: one directory
per controller; v2: one unified directory), writes the limits, and moves the nsjail
process into it while nsjail still waits for its configuration (see nsjail.py), so
everything nsjail spawns is born inside, accounted and limited. Because the cgroup outlives
nsjail, the peak memory, OOM kills and CPU time can be read after the run, every
leftover process can be killed, and the directory removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from nexflow_executor.errors import BackendUnavailable, SandboxError

__all__ = ["CallCgroup", "CgroupUsage", "detect_version"]

_V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")
_CFS_PERIOD_US = 100_000
# CPU weight of a cgroup set up ahead of its call, and of one running a call: the
# kernel's lowest and its default (v2 cpu.weight; v1 cpu.shares).
_WEIGHT = {2: ("cpu.weight", "1", "100"), 1: ("cpu.shares", "2", "1024")}


@dataclass(frozen=True, slots=True)
class CgroupUsage:
    """What a call used, read from its cgroup after the run."""

    cpu_time_ms: int
    peak_memory_bytes: int
    oom_kills: int


def detect_version(root: Path) -> int:
    """2 for a pure unified hierarchy, 1 for v1 controllers (hybrid included)."""
    if (root / "cgroup.controllers").exists():
        return 2
    if all((root / c).is_dir() for c in _V1_CONTROLLERS):
        return 1
    raise BackendUnavailable(
        f"no usable cgroup hierarchy under {root}: need v2, or v1 with {', '.join(_V1_CONTROLLERS)}"
    )


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise SandboxError(f"cannot write cgroup file {path}: {exc.strerror}") from exc


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _keyed(text: str, key: str) -> int:
    """The value of `key N` in a flat-keyed cgroup file such as memory.events."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _int(text: str) -> int:
    return int(text) if text.strip().isdigit() else 0


class CallCgroup:
    """The cgroup directories of one call (several under v1, one under v2)."""

    def __init__(self, root: Path, parent: str, name: str) -> None:
        self.version = detect_version(root)
        if self.version == 2:
            self._dirs = {c: root / parent / name for c in ("memory", "pids", "cpu", "cpuacct")}
        else:
            self._dirs = {c: root / c / parent / name for c in _V1_CONTROLLERS}
        self._root = root
        self._parent = parent
        self._name = name
        self._unique = list(dict.fromkeys(os.path.realpath(d) for d in self._dirs.values()))

    def reset_peak(self) -> None:
        """Start the memory high-water mark afresh (v1; v2's memory.peak is left as is)."""
        if self.version == 1:
            with contextlib.suppress(OSError):
                (self._dirs["memory"] / "memory.max_usage_in_bytes").write_text("0")

    def create_accounting(self) -> None:
        """Make the directories without limits: a parent that another manager (the Docker
        engine) creates its own limited cgroup under, kept to read hierarchical usage
        after that child is gone. `create()` is this plus the limits."""
        if self.version == 2:
            self._enable_v2_controllers()
        for d in self._unique:
            try:
                os.makedirs(d, mode=0o755, exist_ok=False)
            except OSError as exc:
                raise SandboxError(f"cannot create cgroup {d}: {exc.strerror}") from exc

    def remove_tree(self) -> None:
        """Remove this cgroup in every hierarchy, with whatever another manager created
        below it (v1: Docker also makes it under cpuset, blkio, devices, freezer...)."""
        roots = [self._root] if self.version == 2 else list(self._root.iterdir())
        for hierarchy in roots:
            top = hierarchy / self._parent / self._name
            if not top.is_dir():
                continue
            with contextlib.suppress(OSError):
                subs = sorted((p for p in top.rglob("*") if p.is_dir()), reverse=True)
                for sub in [*subs, top]:
                    with contextlib.suppress(OSError):
                        os.rmdir(sub)

    def create(self, memory_bytes: int, pids: int, cpu_millis: int) -> None:
        """Make the directories and write the limits."""
        self.create_accounting()
        mem, quota = self._dirs["memory"], cpu_millis * _CFS_PERIOD_US // 1000
        if self.version == 2:
            _write(mem / "memory.max", str(memory_bytes))
            _write(mem / "memory.swap.max", "0")
            _write(self._dirs["pids"] / "pids.max", str(pids))
            _write(self._dirs["cpu"] / "cpu.max", f"{quota} {_CFS_PERIOD_US}")
            return
        _write(mem / "memory.limit_in_bytes", str(memory_bytes))
        if (mem / "memory.memsw.limit_in_bytes").exists():  # swap included, when accounted
            _write(mem / "memory.memsw.limit_in_bytes", str(memory_bytes))
        _write(self._dirs["pids"] / "pids.max", str(pids))
        _write(self._dirs["cpu"] / "cpu.cfs_period_us", str(_CFS_PERIOD_US))
        _write(self._dirs["cpu"] / "cpu.cfs_quota_us", str(quota))

    def set_background(self, background: bool) -> None:
        """Background: the lowest CPU weight, so that setting a sandbox up ahead of its
        call takes only CPU that running calls leave idle; else the default weight,
        which its call gets back before it begins. The CPU quota is untouched."""
        name, low, normal = _WEIGHT[self.version]
        _write(self._dirs["cpu"] / name, low if background else normal)

    def is_background(self) -> bool:
        """Whether the cgroup has the background CPU weight now (`set_background`)."""
        name, low, _ = _WEIGHT[self.version]
        return _read(self._dirs["cpu"] / name).strip() == low

    def _enable_v2_controllers(self) -> None:
        parent = self._root / self._parent
        parent.mkdir(mode=0o755, exist_ok=True)
        for d in (self._root, parent):
            with contextlib.suppress(OSError):  # already enabled, or delegated by the host
                (d / "cgroup.subtree_control").write_text("+memory +pids +cpu")

    def attach(self, pid: int) -> None:
        """Move process `pid` into this cgroup; its future children are born inside."""
        for d in self._unique:
            _write(Path(d) / "cgroup.procs", str(pid))

    def usage(self) -> CgroupUsage:
        mem = self._dirs["memory"]
        if self.version == 2:
            cpu_us = _keyed(_read(self._dirs["cpu"] / "cpu.stat"), "usage_usec")
            return CgroupUsage(
                cpu_time_ms=cpu_us // 1000,
                peak_memory_bytes=_int(_read(mem / "memory.peak")),
                oom_kills=_keyed(_read(mem / "memory.events"), "oom_kill"),
            )
        # v1 counts OOM kills only in the cgroup that hit its limit: add the children's
        # (a Docker container's own cgroup below an accounting parent).
        oom = _keyed(_read(mem / "memory.oom_control"), "oom_kill")
        with contextlib.suppress(OSError):
            for child in mem.iterdir():
                if child.is_dir():
                    oom += _keyed(_read(child / "memory.oom_control"), "oom_kill")
        return CgroupUsage(
            cpu_time_ms=_int(_read(self._dirs["cpuacct"] / "cpuacct.usage")) // 1_000_000,
            peak_memory_bytes=_int(_read(mem / "memory.max_usage_in_bytes")),
            oom_kills=oom,
        )

    def current_memory(self) -> int:
        """The memory charged to this cgroup now, in bytes (0 if unreadable)."""
        mem = self._dirs["memory"]
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        return _int(_read(mem / name))

    def pids(self) -> list[int]:
        """Every process in this cgroup and in any cgroup below it (a container's)."""
        found: list[int] = []
        with contextlib.suppress(OSError):
            for procs in self._dirs["pids"].rglob("cgroup.procs"):
                found += [int(p) for p in _read(procs).split() if p.isdigit()]
        return found

    def signal_all(self) -> int:
        """Send SIGKILL once to every process in the cgroup and below it, without waiting
        for them to exit (`kill_all` waits); the number of processes signalled."""
        left = self.pids()
        if left and self.version == 2 and (self._dirs["pids"] / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                (self._dirs["pids"] / "cgroup.kill").write_text("1")
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(left)

    def kill_all(self, timeout_s: float = 2.0) -> bool:
        """SIGKILL every process left in the cgroup and below it; True once none is left."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = self.pids()
            if not left:
                return True
            if self.version == 2 and (self._dirs["pids"] / "cgroup.kill").exists():
                with contextlib.suppress(OSError):
                    (self._dirs["pids"] / "cgroup.kill").write_text("1")
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)

    def remove(self) -> None:
        """Remove the directories; retries briefly while the kernel finishes exits."""
        for d in self._unique:
            for _ in range(100):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
