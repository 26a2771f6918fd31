"""Sandbox containers: what one looks like, how it is started, and how it goes away.

A container is created for exactly one call and removed after it. Everything that must
be fixed when a container is *created* — image, skill folder, granted mounts, memory,
pids, CPU share, CPU-time rlimit, tmpfs size — is its `Profile`; everything that varies
per call — argv, environment (secrets included), stdin — travels over the container's
attached stdin to the launcher (launcher.c), which waits there and runs the script.
So a container can be started before its call arrives (the warm pool) and still never
see another call's data; and a call costs no `docker exec` (a runc process per call,
tens of milliseconds): writing one header to an open stream starts the script.

The container's confinement, set here and nowhere else:
read-only root filesystem; a size-capped tmpfs at /tmp (nosuid, nodev) as the only
scratch space; non-root user (the executor's sandbox uid, 65534 by default, the same
outside uid nsjail maps to, so granted directories need one owner for both backends);
`cap_drop=ALL`; `no-new-privileges`; our own seccomp allowlist (seccomp.py: no io_uring,
no ptrace, no mounts or namespaces); the launcher's Landlock domain (no /proc: no mount
table, no other process) and a non-dumpable launcher; no network (`network_mode=none`);
memory with swap equal to it (no swap), pids, CPU quota and RLIMIT_CPU; log driver
`none`, so no output (and no secret in it) is written under /var/lib/docker; granted
directories as bind mounts from the executor's staging root (see staging.py), resolved
with realpath and re-checked when the container is created. Labels mark every container
with this executor's instance id, so `reap()` removes what a crashed executor left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from docker.types import LogConfig, Mount, Ulimit

from nexflow_executor.errors import SandboxError
from nexflow_executor.mounts import recheck_host_path, recheck_skill_dir
from nexflow_executor.sandbox.base import (
    PYTHON_FLAGS,
    SANDBOX_TMP,
    MountSpec,
    RunLimits,
    RunSpec,
    Runtime,
)
from nexflow_executor.sandbox.cgroups import CallCgroup
from nexflow_executor.sandbox.docker_engine import AttachStream, DockerEngine
from nexflow_executor.sandbox.jail_stub import STUB
from nexflow_executor.sandbox.launcher import build_launcher
from nexflow_executor.sandbox.seccomp import docker_profile
from nexflow_executor.sandbox.staging import Staging
from nexflow_executor.settings import Settings

__all__ = [
    "ContainerFactory",
    "Profile",
    "SandboxContainer",
    "container_command",
    "launch_header",
]

log = structlog.get_logger("nexflow_executor")
LABEL_MANAGED = "io.nexflow.managed"
LABEL_EXECUTOR = "io.nexflow.executor"
LABEL_PROFILE = "io.nexflow.profile"
# The launcher (static, so any image will do), bind-mounted read-only and execute-only.
_LAUNCHER_IN_CONTAINER = "/nexflow/launch"
_IDLE_COMMAND = [_LAUNCHER_IN_CONTAINER]
_IN_IMAGE = {Runtime.PYTHON: "/usr/bin/python3", Runtime.NODE: "/usr/bin/node"}
_EXTRA_PIDS = 2  # docker-init and the launcher count against the pids limit too
_CONTAINER_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFER_S = 1.0


@dataclass(frozen=True, slots=True)
class Profile:
    """Everything fixed at container creation; equal profiles are interchangeable."""

    image_id: str
    runtime: Runtime  # python: the interpreter is started with the container, waiting
    skill_dir: Path
    mounts: tuple[MountSpec, ...]
    memory_bytes: int
    pids: int
    cpu_millis: int
    tmpfs_bytes: int
    cpu_time_ms: int

    @classmethod
    def of(cls, spec: RunSpec, image_id: str) -> Profile:
        limits = spec.limits
        return cls(
            image_id=image_id,
            runtime=spec.runtime,
            skill_dir=spec.skill_dir,
            mounts=spec.mounts,
            memory_bytes=limits.memory_bytes,
            pids=limits.pids,
            cpu_millis=limits.cpu_millis,
            tmpfs_bytes=limits.tmpfs_bytes,
            cpu_time_ms=limits.cpu_time_ms,
        )

    @property
    def key(self) -> str:
        """A stable digest of the profile, used as a label and in logs."""
        text = repr(
            (
                self.image_id,
                self.runtime.value,
                str(self.skill_dir),
                [(str(m.host_path), m.sandbox_path, m.writable) for m in self.mounts],
                self.memory_bytes,
                self.pids,
                self.cpu_millis,
                self.tmpfs_bytes,
                self.cpu_time_ms,
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(slots=True)
class SandboxContainer:
    """A started, idle container of one profile, its launcher waiting for its one call."""

    id: str
    name: str
    profile: Profile
    cgroup: CallCgroup
    stream: AttachStream
    started_at: float = field(default_factory=time.monotonic)


def launch_header(spec: RunSpec, nonce: str) -> bytes:
    """What the launcher reads: a byte count line, then NUL-terminated fields: the end-marker
    nonce, the environment (NAME=VALUE each, an empty field after the last), the argv. A
    python call's argv goes to the waiting interpreter (see `idle_command`): no flags."""
    argv = container_command(spec)
    if spec.runtime is Runtime.PYTHON:
        argv = [argv[0], *argv[len(PYTHON_FLAGS) + 1 :]]
    fields = [nonce, *(f"{k}={v}" for k, v in spec.env.items()), "", *argv]
    data = b"".join(field.encode() + b"\0" for field in fields)
    return str(len(data)).encode() + b"\n" + data


def container_command(spec: RunSpec) -> list[str]:
    """The argv exec'd in the container: the image's interpreter, the entrypoint, args."""
    script = f"/skill/{spec.entrypoint}"
    if spec.runtime is Runtime.PYTHON:
        head = [_IN_IMAGE[Runtime.PYTHON], *PYTHON_FLAGS, script]
    elif spec.runtime is Runtime.NODE:
        head = [_IN_IMAGE[Runtime.NODE], script]
    else:
        head = ["/bin/bash", script]
    return [*head, *spec.args]


def idle_command(profile: Profile) -> list[str]:
    """What a container runs until its call: the launcher, and for python the interpreter
    it starts right away, running the stub (jail_stub.py) that waits for the call on fd 3
    with `jail_stub.PRELOADED` already imported."""
    if profile.runtime is not Runtime.PYTHON:
        return _IDLE_COMMAND
    python = _IN_IMAGE[Runtime.PYTHON]
    return [*_IDLE_COMMAND, "--prestart", python, *PYTHON_FLAGS, "-c", STUB, "3"]


def instance_id(settings: Settings) -> str:
    """Stable per executor state directory: a restarted executor finds its orphans."""
    digest = hashlib.sha256(os.path.realpath(settings.state_dir).encode()).hexdigest()
    return digest[:12]


class ContainerFactory:
    """Starts profile containers, and kills and removes them in the background."""

    def __init__(self, settings: Settings, engine: DockerEngine) -> None:
        self._settings = settings
        self._engine = engine
        self.instance = instance_id(settings)
        self._launcher: Path | None = None
        self._discarding: set[asyncio.Task[None]] = set()
        # Set while no call runs. Background work (removing used containers, starting
        # warm ones) waits for it, up to DEFER_S, so it does not compete with running
        # calls for the CPU; under continuous load it proceeds anyway after the wait.
        self.quiet = asyncio.Event()
        self.quiet.set()

    def prepare(self) -> None:
        """Build (or find cached) the launcher binary; BackendUnavailable if it cannot."""
        self._launcher = build_launcher(self._settings.state_dir)

    async def when_quiet(self) -> None:
        """Wait until no call runs, at most DEFER_S."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.quiet.wait(), DEFER_S)

    def _host_config(self, profile: Profile, staged: RunSpec) -> dict[str, Any]:
        if self._launcher is None:
            raise SandboxError("the Docker backend was not prepared (no launcher)")
        mounts = [
            Mount(_LAUNCHER_IN_CONTAINER, str(self._launcher), type="bind", read_only=True),
            Mount("/skill", str(staged.skill_dir), type="bind", read_only=True),
        ]
        mounts += [
            Mount(m.sandbox_path, str(m.host_path), type="bind", read_only=not m.writable)
            for m in staged.mounts
        ]
        cpu_s = max(1, math.ceil(profile.cpu_time_ms / 1000))
        return dict(
            mounts=mounts,
            read_only=True,
            tmpfs={SANDBOX_TMP: f"rw,nosuid,nodev,size={profile.tmpfs_bytes},mode=1777"},
            shm_size=min(profile.tmpfs_bytes, 64 * 1024 * 1024),
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true", f"seccomp={docker_profile()}"],
            network_mode="none",
            mem_limit=profile.memory_bytes,
            memswap_limit=profile.memory_bytes,  # swap equal to memory: no swap at all
            pids_limit=profile.pids + _EXTRA_PIDS,
            nano_cpus=profile.cpu_millis * 1_000_000,
            ulimits=[
                Ulimit(name="cpu", soft=cpu_s, hard=cpu_s),
                Ulimit(name="core", soft=0, hard=0),
            ],
            init=True,  # docker-init as pid 1 reaps and forwards; the script is never pid 1
            ipc_mode="private",
            log_config=LogConfig(type="none"),  # output is streamed, never stored by Docker
            oom_score_adj=500,  # under memory pressure, sandboxes go before the host's services
        )

    async def start(self, profile: Profile) -> SandboxContainer:
        """Create and start a container of `profile`; it idles until a call's exec."""
        recheck_skill_dir(profile.skill_dir, self._settings)  # a bundle may have been evicted
        for m in profile.mounts:
            recheck_host_path(m.host_path, self._settings)  # the grant may have been swapped
        name = f"nxf-{self.instance}-{secrets.token_hex(6)}"
        stand_in = _stand_in_spec(name, profile)
        # Docker creates (and, at exit, deletes) the container's own limited cgroup under
        # this accounting parent, whose hierarchical counters outlive it.
        cgroup = CallCgroup(self._settings.nsjail.cgroup_root, self._cgroup_parent, name)
        cgroup.create_accounting()
        try:
            return await self._start(profile, name, stand_in, cgroup)
        except BaseException:
            self._discarding_cgroup(cgroup)
            raise

    @property
    def _cgroup_parent(self) -> str:
        return f"{self._settings.docker.cgroup_parent}/{self.instance}"

    async def _start(
        self, profile: Profile, name: str, stand_in: RunSpec, cgroup: CallCgroup
    ) -> SandboxContainer:
        api = self._engine.api
        with Staging(self._settings.stage_dir, stand_in) as staged:
            options = self._host_config(profile, staged)
            options["cgroup_parent"] = f"/{self._cgroup_parent}/{name}"
            host_config = api.create_host_config(**options)
            created = await self._engine.call(
                api.create_container,
                image=profile.image_id,
                entrypoint=idle_command(profile),
                command=[],
                stdin_open=True,  # the SDK sets StdinOnce with it: a half-close ends stdin
                user=f"{self._settings.sandbox_uid}:{self._settings.sandbox_gid}",
                working_dir=SANDBOX_TMP,
                environment={"PATH": _CONTAINER_PATH},
                hostname="sandbox",
                network_disabled=True,
                labels={
                    LABEL_MANAGED: "true",
                    LABEL_EXECUTOR: self.instance,
                    LABEL_PROFILE: profile.key,
                },
                name=name,
                host_config=host_config,
            )
            container_id = str(created["Id"])
            stream: AttachStream | None = None
            try:
                stream = await self._engine.attach(container_id)  # before start: lose nothing
                await self._engine.call(api.start, container_id)
            except BaseException:
                if stream is not None:
                    stream.close()
                self.discard_id(container_id)
                raise
        # The container holds its own bind mounts now; the staging mounts can go.
        return SandboxContainer(container_id, name, profile, cgroup, stream)

    async def kill(self, container: SandboxContainer) -> None:
        """SIGKILL everything in the container now, through its cgroup (the container's own
        cgroup is below the accounting one); ask the engine only if that did not empty it."""
        container.cgroup.signal_all()  # at once, on the caller's path
        if not await asyncio.to_thread(container.cgroup.kill_all, 1.0):
            with contextlib.suppress(SandboxError):
                await self._engine.call(self._engine.api.kill, container.id, "SIGKILL")

    def discard(self, container: SandboxContainer) -> None:
        """Kill and remove `container` (and its cgroups) in the background; never reused.
        Its processes get SIGKILL before this returns; waiting for them to be gone, and
        the engine's removal, happen off the caller's path."""
        container.stream.close()
        container.cgroup.signal_all()
        self._background(self._kill_and_remove(container))

    async def _kill_and_remove(self, container: SandboxContainer) -> None:
        # Not deferred: a process forked while the signal went out is killed right away.
        await asyncio.to_thread(container.cgroup.kill_all)
        await self._remove(container.id, container.cgroup)

    def discard_id(self, container_id: str) -> None:
        self._background(self._remove(container_id, None))

    def _discarding_cgroup(self, cgroup: CallCgroup) -> None:
        self._background(asyncio.to_thread(cgroup.remove_tree))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)

    async def _remove(self, container_id: str, cgroup: CallCgroup | None) -> None:
        await self.when_quiet()
        try:
            await self._engine.call(
                self._engine.api.remove_container, container_id, force=True, v=True
            )
        except Exception:
            log.warning("executor.container_remove_failed", container=container_id[:12])
        if cgroup is not None:
            await asyncio.to_thread(cgroup.remove_tree)

    async def drain(self) -> None:
        """Wait for background removals to finish."""
        if self._discarding:
            await asyncio.wait(set(self._discarding), timeout=30)

    async def reap(self) -> int:
        """Remove every container this executor instance left behind (after a crash)."""
        found = await self._engine.call(
            self._engine.api.containers,
            all=True,
            quiet=True,
            filters={"label": [f"{LABEL_EXECUTOR}={self.instance}"]},
        )
        for entry in found:
            await self._remove(str(entry["Id"]), None)
        root = self._settings.nsjail.cgroup_root
        leftovers = CallCgroup(root, self._settings.docker.cgroup_parent, self.instance)
        await asyncio.to_thread(leftovers.remove_tree)
        return len(found)


def _stand_in_spec(name: str, profile: Profile) -> RunSpec:
    """A RunSpec carrying just what Staging needs: a name and the paths to stage."""
    return RunSpec.for_setup(
        name,
        profile.skill_dir,
        profile.mounts,
        runtime=Runtime.BASH,
        env={},
        limits=RunLimits(0, 0, 0, 0, 0, 0, 0),
    )
