"""What every sandbox backend takes and gives back: `RunSpec` in, `RunResult` out.

A backend module (nsjail here; Docker later, in its own module) implements the
`Sandbox` protocol. `RunSpec` is already validated and resolved: backends trust it.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nexflow_executor.egress.grants import HostGrant
from nexflow_executor.errors import KillReason

__all__ = [
    "PYTHON_FLAGS",
    "SANDBOX_TMP",
    "EgressAttach",
    "MountSpec",
    "OnOutput",
    "OnStarted",
    "RunLimits",
    "RunResult",
    "RunSpec",
    "Runtime",
    "Sandbox",
    "Stream",
]

# Every python skill runs with these: -I isolated (no user site, no PYTHON* variables, no
# script directory on sys.path), -S no site module.
PYTHON_FLAGS = ("-I", "-S")
# The sandbox's private, size-capped tmpfs (not the host's /tmp): cwd and HOME.
SANDBOX_TMP = "/tmp"  # noqa: S108


class Runtime(enum.Enum):
    """The interpreter for the entrypoint."""

    BASH = "bash"
    PYTHON = "python"
    NODE = "node"


class Stream(enum.IntEnum):
    """Which standard stream a chunk came from; values mirror the proto's `Stream`."""

    STDOUT = 1
    STDERR = 2


@dataclass(frozen=True, slots=True)
class MountSpec:
    """One granted host path (realpath-resolved) and where it appears in the sandbox."""

    host_path: Path
    sandbox_path: str
    writable: bool


@dataclass(frozen=True, slots=True)
class RunLimits:
    """Effective limits after defaults; units as in the proto (ms, bytes, count, milli-CPUs)."""

    wall_time_ms: int
    cpu_time_ms: int
    memory_bytes: int
    pids: int
    output_bytes: int
    tmpfs_bytes: int
    cpu_millis: int


class EgressAttach(Protocol):
    """The call's egress proxy, as a backend plugs it into the sandbox's network namespace
    before the script starts (egress/call.py). Raises SandboxError."""

    async def join_process(self, pid: int) -> None:
        """Serve the proxy inside the network namespace of process `pid`."""
        ...


@dataclass(frozen=True, slots=True)
class RunSpec:
    """A validated, resolved request: exactly what one sandbox run does."""

    call_id: str
    runtime: Runtime
    skill_dir: Path
    entrypoint: str  # relative to skill_dir, symlinks resolved, inside it
    args: tuple[str, ...]
    stdin: bytes
    env: Mapping[str, str]  # the complete sandbox environment, reserved names included
    mounts: tuple[MountSpec, ...]
    limits: RunLimits
    image: str = ""  # Docker only: the requested image reference ("" = the runtime's default)
    image_labels: Mapping[str, str] = field(default_factory=dict)  # Docker: labels it must carry
    network: tuple[HostGrant, ...] = ()  # empty: no network at all
    egress: EgressAttach | None = None  # set by the service exactly when `network` is not empty

    @classmethod
    def for_setup(
        cls,
        name: str,
        skill_dir: Path,
        mounts: tuple[MountSpec, ...],
        *,
        runtime: Runtime,
        env: Mapping[str, str],
        limits: RunLimits,
    ) -> RunSpec:
        """A spec for setting a sandbox up before its call (a warm container, a
        pre-started jail): what staging and confinement need, no script, args or input."""
        return cls(
            call_id=name,
            runtime=runtime,
            skill_dir=skill_dir,
            entrypoint="",
            args=(),
            stdin=b"",
            env=env,
            mounts=mounts,
            limits=limits,
        )


@dataclass(slots=True)
class RunResult:
    """How a run ended and what it used."""

    exit_code: int
    kill_reason: KillReason
    wall_time_ms: int
    cpu_time_ms: int = 0
    peak_memory_bytes: int = 0
    truncated: bool = False
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    detail: str = ""


OnOutput = Callable[[Stream, bytes], Awaitable[None]]


class OnStarted(Protocol):
    """Called once the script runs; Docker passes the image ID and whether it was warm."""

    def __call__(self, image_id: str = "", warm: bool = False) -> Awaitable[None]: ...


class Sandbox(Protocol):
    """One sandbox backend."""

    name: str

    def check(self) -> None:
        """Raise BackendUnavailable if this backend cannot run on this host."""
        ...

    async def start(self) -> None:
        """Begin serving: reap what a crashed predecessor left, start background work."""
        ...

    async def close(self) -> None:
        """Stop background work and remove everything this backend still holds."""
        ...

    async def run(
        self,
        spec: RunSpec,
        on_started: OnStarted,
        on_output: OnOutput,
        cancel: asyncio.Event,
    ) -> RunResult:
        """Run `spec` to its end; call `on_started` once the script is being executed,
        `on_output` for each chunk (≤ 64 KiB, in read order); end early when `cancel` is
        set. Raise SandboxError if the sandbox could not be set up."""
        ...
