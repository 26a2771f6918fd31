"""The seam's domain types: what to run (`ExecutionSpec`), how it ended (`Outcome`), and
the `Executor` protocol the calls speak to. No protobuf type appears here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol

Runtime = Literal["bash", "python", "node"]
Backend = Literal["", "docker", "nsjail"]
"""A sandbox backend; "" = the executor's default."""


class KillReason(StrEnum):
    """Why the executor ended a call before its script ended by itself."""

    UNSPECIFIED = "unspecified"
    NONE = "none"
    TIMEOUT = "timeout"
    CPU_TIME = "cpu_time"
    OOM = "oom"
    OUTPUT_LIMIT = "output_limit"
    CANCELLED = "cancelled"
    SIGNALED = "signaled"


@dataclass(frozen=True, slots=True)
class Mount:
    """One granted directory: its path on the control plane's machine, where the sandbox
    sees it, and whether it may write there."""

    host_path: str
    sandbox_path: str
    writable: bool


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits (milliseconds, bytes, count); 0 = the executor's default."""

    wall_time_ms: int = 0
    cpu_time_ms: int = 0
    memory_bytes: int = 0
    pids: int = 0
    output_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ExecutionSpec:
    """Everything one call asks of an executor, already granted by policy."""

    call_id: str
    runtime: Runtime
    skill_dir: Path
    skill_digest: str
    """The skill folder's `sha256:<hex>` digest: its bundle is cached under it."""
    entrypoint: str
    stdin: bytes
    mounts: tuple[Mount, ...] = ()
    network_hosts: tuple[str, ...] = ()
    image: str = ""
    image_labels: dict[str, str] = field(default_factory=dict)
    backend: Backend = ""
    limits: Limits = field(default_factory=Limits)
    idempotent: bool = False
    """The skill may run again on another executor if its first one is lost mid-call."""
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    """The values of the secrets policy granted to this call, by name (never printed)."""
    skill_shared: tuple[tuple[str, Path], ...] = ()
    """Files from `_shared/` that the bundle carries at its top (SKILL.md `shared:`)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """What the call consumed: milliseconds and bytes."""

    wall_time_ms: int = 0
    cpu_time_ms: int = 0
    peak_memory_bytes: int = 0


@dataclass(frozen=True, slots=True)
class EgressRecord:
    """One connection attempt the call's egress proxy saw, allowed or refused."""

    host: str
    port: int
    method: str
    address: str
    allowed: bool
    reason: str
    grant: str
    bytes_up: int
    bytes_down: int
    started_at_unix_ms: int
    duration_ms: int
    seq: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one call ended on its executor."""

    exit_code: int
    kill_reason: KillReason
    detail: str
    truncated: bool
    usage: Usage
    stdout: bytes
    stderr: bytes
    egress: tuple[EgressRecord, ...]
    egress_dropped: int
    backend: str
    """The backend that ran it (docker | nsjail), lower case."""
    image_id: str
    warm: bool
    executor: str
    """The name of the executor that ran it."""
    bundle_sha256: str = ""
    """The bundle the skill travelled as; "" when the executor read its folder."""
    lost_on: tuple[str, ...] = ()
    """Executors lost mid-call before this one ran it (an idempotent skill only)."""

    @property
    def status(self) -> Literal["succeeded", "failed", "killed"]:
        if self.kill_reason is not KillReason.NONE:
            return "killed"
        return "succeeded" if self.exit_code == 0 else "failed"


@dataclass(frozen=True, slots=True)
class ExecutorState:
    """One executor as its last health check and `Describe` left it."""

    name: str
    target: str
    healthy: bool
    described: bool = False
    """True when `Describe` answered (the fields below come from it)."""
    backend: str = ""
    available: tuple[str, ...] = ()
    unavailable: dict[str, str] = field(default_factory=dict)
    pool_ready: int = 0
    pool_profiles: int = 0
    slots_total: int = 0
    """0 = no limit."""
    slots_busy: int = 0
    draining: bool = False
    executor_id: str = ""
    """Non-empty when the executor serves the digest contract (bundles, volumes)."""
    inflight: int = 0
    """Calls this control plane is running on it now."""

    def sandbox(self) -> dict[str, object]:
        """The `/health` view of its backends and warm pool."""
        return {
            "backend": self.backend,
            "available": list(self.available),
            "unavailable": dict(self.unavailable),
            "pool": {"ready": self.pool_ready, "profiles": self.pool_profiles},
        }


class Executor(Protocol):
    """Where calls run: one executor, or several behind a dispatcher."""

    async def execute(self, spec: ExecutionSpec, *, output_cap: int) -> Outcome:
        """Run one call; stdout/stderr kept up to `output_cap` bytes each. Raises the
        seam's errors (`ExecutorUnavailable`, `ExecutorRejected`, `ImageUnavailable`,
        `ExecutorLost`), never a gRPC one."""
        ...

    async def cancel(self, call_id: str) -> bool:
        """Kill a running call; False when no executor knew it."""
        ...

    async def states(self) -> list[ExecutorState]:
        """Each executor as it answers now (health and `Describe`)."""
        ...

    async def close(self) -> None: ...
