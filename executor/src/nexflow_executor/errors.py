"""The executor's one exception tree, its kill reasons, and their gRPC status codes.

```
ExecutorError                  anything the executor refuses or fails at
├── InvalidRequest             a request field is wrong          → INVALID_ARGUMENT
├── PreconditionFailed         valid, but cannot run here/now    → FAILED_PRECONDITION
├── BackendUnavailable         the sandbox backend cannot run    → UNAVAILABLE
│   └── Draining               the executor takes no new calls   → UNAVAILABLE
├── Exhausted                  a slot or size limit is reached   → RESOURCE_EXHAUSTED
├── BundleCorrupt              a bundle's bytes are not as said  → DATA_LOSS
└── SandboxError               the sandbox failed to set up      → INTERNAL
```

How a call *ended* is not an exception: it is a `KillReason` in the run result.
Every message is written for a human and names the field or path at fault; no
traceback ever reaches a client (`to_grpc_status` is the one translation point).
"""

from __future__ import annotations

import enum

import grpc

__all__ = [
    "BackendUnavailable",
    "BundleCorrupt",
    "Draining",
    "ExecutorError",
    "Exhausted",
    "InvalidRequest",
    "KillReason",
    "PreconditionFailed",
    "SandboxError",
    "to_grpc_status",
]


class ExecutorError(Exception):
    """Base of every error the executor raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ExecutorError):
    """A request field is malformed or above a ceiling; `field` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class PreconditionFailed(ExecutorError):
    """The request is well formed but cannot run in the current state of the host."""


class BackendUnavailable(ExecutorError):
    """The sandbox backend (nsjail binary, cgroups, Docker engine) cannot be used."""


class Draining(BackendUnavailable):
    """The executor is draining: it finishes running calls and takes no new ones."""

    def __init__(self) -> None:
        super().__init__("draining")


class Exhausted(ExecutorError):
    """A capacity limit is reached: every call slot is busy, or a bundle is too large."""


class BundleCorrupt(ExecutorError):
    """A bundle's bytes differ from the digest or size its sender declared."""


class SandboxError(ExecutorError):
    """The sandbox could not be set up; `detail` carries the backend's diagnostics."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class KillReason(enum.IntEnum):
    """Why a call ended; values mirror `nexflow.executor.v1.KillReason`."""

    NONE = 1
    TIMEOUT = 2
    CPU_TIME = 3
    OOM = 4
    OUTPUT_LIMIT = 5
    CANCELLED = 6
    SIGNALED = 7


_STATUS: tuple[tuple[type[ExecutorError], grpc.StatusCode], ...] = (
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (PreconditionFailed, grpc.StatusCode.FAILED_PRECONDITION),
    (BackendUnavailable, grpc.StatusCode.UNAVAILABLE),
    (Exhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (BundleCorrupt, grpc.StatusCode.DATA_LOSS),
    (SandboxError, grpc.StatusCode.INTERNAL),
)


def to_grpc_status(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """Map any exception to a gRPC status code and a clean one-line message.

    Unknown exceptions become INTERNAL with a generic message: their text may carry
    paths or values we did not choose to show, and never a traceback.
    """
    if isinstance(error, ExecutorError):
        for kind, code in _STATUS:
            if isinstance(error, kind):
                return code, error.message
    return grpc.StatusCode.INTERNAL, "internal executor error (see the executor log)"
