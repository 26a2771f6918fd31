"""Executors: where calls run, behind one protocol (the control plane's seam).

    _types    ExecutionSpec (what to run), Outcome (how it ended), KillReason, Mount,
              Limits, Usage, EgressRecord, ExecutorState, and the `Executor` protocol
    _errors   ExecutorRejected, ImageUnavailable, ExecutorLost; gRPC codes mapped to them
    _proto    domain types to protobuf and back (the only builder of executor_pb2 messages)
    _grpc     GrpcExecutor: one executor over one gRPC channel
    _bundles  a skill folder as a deterministic tar (Bundle), cached by skill digest
    _volumes  Volumes: directories known by name on both sides of the wire
    _pool     ExecutorPool: several executors, dispatch by health and free slots
    _config   executor_pool(settings): the pool a control plane runs with

Protobuf and gRPC types stay inside this package: `calls/` builds an `ExecutionSpec`
and gets an `Outcome` or one of the control plane's errors.
"""

from ..errors import ExecutorUnavailable
from ._bundles import Bundle, BundleCache, BundleRefused, build_bundle
from ._config import executor_pool
from ._errors import ExecutorLost, ExecutorRejected, ImageUnavailable
from ._grpc import GrpcExecutor
from ._pool import ExecutorPool
from ._types import (
    Backend,
    EgressRecord,
    ExecutionSpec,
    Executor,
    ExecutorState,
    KillReason,
    Limits,
    Mount,
    Outcome,
    Runtime,
    Usage,
)
from ._volumes import Volumes

__all__ = [
    "Backend",
    "Bundle",
    "BundleCache",
    "BundleRefused",
    "EgressRecord",
    "ExecutionSpec",
    "Executor",
    "ExecutorLost",
    "ExecutorPool",
    "ExecutorRejected",
    "ExecutorState",
    "ExecutorUnavailable",
    "GrpcExecutor",
    "ImageUnavailable",
    "KillReason",
    "Limits",
    "Mount",
    "Outcome",
    "Runtime",
    "Usage",
    "Volumes",
    "build_bundle",
    "executor_pool",
]
