"""The Docker backend: one container per call, from the warm pool when one is ready.

A call resolves its image to an image ID, takes a ready container of its profile from
the pool (or starts one: "cold"), writes the launch header and the call's stdin to the
container's attached stdin (argv, environment and input exist only there, see
container.py and launcher.c), streams its output through the shared output gate, and
ends it on wall time, output cap or cancel by SIGKILLing the whole container. Usage
comes from the container's own cgroup: the CPU-time delta, the memory
high-water mark (reset when the call starts) and the OOM-kill counter. Then the
container is removed in the background, off the call's critical path.

Exit codes: docker-init reports a signal death as 128 + signal, so a script that itself
exits with 137 is indistinguishable from a SIGKILL; the kill reason disambiguates the
cases Nexflow caused (TIMEOUT, OUTPUT_LIMIT, CANCELLED), and OOM and CPU_TIME are read
from the cgroup, not guessed from the code.
"""

from __future__ import annotations

import asyncio
import signal
import time

import structlog

from nexflow_executor.errors import (
    BackendUnavailable,
    KillReason,
    PreconditionFailed,
    SandboxError,
)
from nexflow_executor.sandbox.base import OnOutput, OnStarted, RunResult, RunSpec, Stream
from nexflow_executor.sandbox.cgroups import CgroupUsage
from nexflow_executor.sandbox.container import (
    ContainerFactory,
    Profile,
    SandboxContainer,
    launch_header,
)
from nexflow_executor.sandbox.docker_engine import AttachStream, DockerEngine
from nexflow_executor.sandbox.end_marker import EndMarker, new_nonce
from nexflow_executor.sandbox.outcome import classify, describe, watch
from nexflow_executor.sandbox.output import OutputGate
from nexflow_executor.sandbox.pool import WarmPool
from nexflow_executor.settings import Settings

__all__ = ["DockerSandbox"]

log = structlog.get_logger("nexflow_executor")
_DRAIN_TIMEOUT_S = 2.0
_EXIT_WAIT_S = 2.0


class DockerSandbox:
    """Runs calls in single-use containers through the Docker engine."""

    name = "docker"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine = DockerEngine(settings.docker.url, settings.docker.api_timeout_s)
        self._factory = ContainerFactory(settings, self._engine)
        self._pool = WarmPool(self._factory, settings.docker.pool)
        self.missing_images: list[str] = []
        self._active = 0

    @property
    def pool(self) -> WarmPool:
        return self._pool

    def check(self) -> None:
        """Refuse if the engine does not answer; note which runtime images are missing."""
        self._engine.connect()
        self._factory.prepare()
        self.missing_images = []
        for reference in self._settings.docker.images.values():
            try:
                self._engine.image(reference)
            except PreconditionFailed:
                self.missing_images.append(reference)

    async def start(self) -> None:
        reaped = await self._factory.reap()
        if reaped:
            log.info("executor.reaped", backend=self.name, containers=reaped)
        self._engine.watch_images()
        self._pool.start()

    async def close(self) -> None:
        await self._pool.close()
        await self._factory.drain()
        await self._engine.stop_watching()

    async def run(
        self, spec: RunSpec, on_started: OnStarted, on_output: OnOutput, cancel: asyncio.Event
    ) -> RunResult:
        self._active += 1
        self._factory.quiet.clear()
        try:
            return await self._run(spec, on_started, on_output, cancel)
        finally:
            self._active -= 1
            if self._active == 0:
                self._factory.quiet.set()

    async def _run(
        self, spec: RunSpec, on_started: OnStarted, on_output: OnOutput, cancel: asyncio.Event
    ) -> RunResult:
        reference = spec.image or self._settings.docker.images[spec.runtime.value]
        image = await self._engine.resolve_image(reference)
        for key, want in spec.image_labels.items():
            if image.labels.get(key) != want:
                raise PreconditionFailed(
                    f"image {reference!r} ({image.id[:19]}) does not carry label {key}={want!r}: "
                    "it was built from something else; rebuild it with `nexflow image build`"
                )
        profile = Profile.of(spec, image.id)
        try:
            container = await self._pool.acquire(profile)
            warm = container is not None
            if container is None:
                container = await self._factory.start(profile)
            try:
                return await self._run_in(
                    container, spec, image.id, warm, on_started, on_output, cancel
                )
            finally:
                self._factory.discard(container)
        finally:
            self._pool.done(profile)

    async def _run_in(
        self,
        container: SandboxContainer,
        spec: RunSpec,
        image_id: str,
        warm: bool,
        on_started: OnStarted,
        on_output: OnOutput,
        cancel: asyncio.Event,
    ) -> RunResult:
        cgroup = container.cgroup
        stream = container.stream
        if spec.egress is not None:  # the proxy's listener goes into the container's netns
            await spec.egress.join_process(await self._pid(container))
        cgroup.reset_peak()
        before = cgroup.usage()
        begin = time.monotonic()
        gate = OutputGate(spec.limits.output_bytes, on_output)
        nonce = new_nonce()
        ends = {Stream.STDOUT: EndMarker(nonce), Stream.STDERR: EndMarker(nonce)}
        # The script starts as soon as its header is written; Started goes out meanwhile
        # (its output waits in the socket until the reader runs, after Started).
        feeder = asyncio.create_task(stream.send_stdin(launch_header(spec, nonce) + spec.stdin))
        reader: asyncio.Task[None] | None = None
        reason: KillReason | None = None
        try:
            await on_started(image_id=image_id, warm=warm)
            reader = asyncio.create_task(_pump(stream, gate, ends))
            reason = await watch(reader, gate, cancel, spec.limits.wall_time_ms / 1000)
            if reason is not None:
                await self._factory.kill(container)
            await asyncio.wait({reader}, timeout=_DRAIN_TIMEOUT_S)
            wall_ms = int((time.monotonic() - begin) * 1000)
        finally:
            for task in (reader, feeder):
                if task is not None:
                    task.cancel()
        status = ends[Stream.STDOUT].status
        after = cgroup.usage()  # read while the container still exists
        # Nothing the script left behind outlives the call: SIGKILL to every process in
        # the container now; waiting for them to go, and removal, are discard()'s, off
        # the answer's path.
        cgroup.signal_all()
        oom_killed = False
        if reason is not None:
            exit_code = 128 + signal.SIGKILL
        elif status is not None:
            exit_code = status
        else:  # the launcher itself died (OOM, signal): ask the engine
            exit_code, oom_killed = await self._exit_state(container)
        usage = CgroupUsage(
            cpu_time_ms=max(0, after.cpu_time_ms - before.cpu_time_ms),
            peak_memory_bytes=after.peak_memory_bytes,
            oom_kills=max(after.oom_kills - before.oom_kills, int(oom_killed)),
        )
        if reason is None and gate.truncated:
            reason = KillReason.OUTPUT_LIMIT
        signum = exit_code - 128 if 128 < exit_code < 128 + 65 else None
        reason = reason or classify(signum, usage, spec.limits.cpu_time_ms)
        return RunResult(
            exit_code=exit_code,
            kill_reason=reason,
            wall_time_ms=wall_ms,
            cpu_time_ms=usage.cpu_time_ms,
            peak_memory_bytes=usage.peak_memory_bytes,
            truncated=gate.truncated,
            stdout_bytes=gate.sent[Stream.STDOUT],
            stderr_bytes=gate.sent[Stream.STDERR],
            detail=describe(reason, spec, signum),
        )

    async def _pid(self, container: SandboxContainer) -> int:
        """A host pid inside the container: its network namespace is the sandbox's. Read
        from the container's accounting cgroup (no engine round trip on the call's path);
        the engine is asked only if that finds nothing."""
        pids = container.cgroup.pids()
        if pids:
            return pids[0]  # before the header, only docker-init and the launcher run here
        data = await self._engine.call(self._engine.api.inspect_container, container.id)
        state = data.get("State") or {}
        pid = int(state.get("Pid") or 0)
        if not state.get("Running") or pid <= 0:
            raise SandboxError("the sandbox container is not running; cannot attach egress")
        return pid

    async def _exit_state(self, container: SandboxContainer) -> tuple[int, bool]:
        """The script's exit code (docker-init passes it on) and whether the kernel's OOM
        killer struck in the container, when the launcher died before its end marker: one
        engine wait for the exit (it may come a moment after the stream closed), then one
        inspect for the OOM flag."""
        try:
            waited = await self._engine.call(
                self._engine.api.wait, container.id, timeout=_EXIT_WAIT_S
            )
        except (SandboxError, BackendUnavailable):  # still running after the wait
            return 255, False
        code = int(waited.get("StatusCode", 255))
        data = await self._engine.call(self._engine.api.inspect_container, container.id)
        return code, bool((data.get("State") or {}).get("OOMKilled"))


async def _pump(stream: AttachStream, gate: OutputGate, ends: dict[Stream, EndMarker]) -> None:
    """Forward output until both streams carried the end marker, or the stream ended."""
    async for kind, payload in stream.frames():
        data = ends[kind].feed(payload)
        if not gate.truncated:  # past the cap, keep reading so the script never blocks
            await gate.offer(kind, data)
        if all(end.done for end in ends.values()):
            return
    for kind, end in ends.items():
        if not gate.truncated:
            await gate.offer(kind, end.flush())
