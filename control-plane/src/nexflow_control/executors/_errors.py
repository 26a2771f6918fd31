"""The seam's errors, and the one place gRPC status codes become them.

NexflowError
├── ExecutorUnavailable (503 executor_unavailable)   nothing started; another may take it
│   └── ExecutorBusy                                 every slot taken: wait for one
├── ExecutorRejected    (502 executor_rejected)      the executor refused the request
├── ImageUnavailable    (503 image_unavailable)      the skill's image is not there
└── ExecutorLost        (502 executor_lost)          it died after the call started
"""

from __future__ import annotations

import grpc

from ..errors import ExecutorUnavailable, NexflowError


class ExecutorBusy(ExecutorUnavailable):
    """The executor's call slots are all taken (RESOURCE_EXHAUSTED): nothing started, and
    the call may wait for a slot there or go to another executor."""


class ExecutorRejected(NexflowError):
    """The executor refused a request the control plane built: a configuration or grant problem."""

    status, code = 502, "executor_rejected"


class ImageUnavailable(NexflowError):
    """The skill's container image is not on the executor's host, or is not the one its
    version was built into: build it with `nexflow image build`."""

    status, code = 503, "image_unavailable"


class ExecutorLost(NexflowError):
    """The executor went away after the call had started: it may have run part-way, so
    it is not sent anywhere again."""

    status, code = 502, "executor_lost"


_REJECTIONS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.OUT_OF_RANGE,
}


def map_rpc_error(exc: grpc.aio.AioRpcError) -> NexflowError:
    """The control plane's error for a gRPC failure before anything started."""
    details = exc.details() or exc.code().name
    if exc.code() == grpc.StatusCode.FAILED_PRECONDITION and details.startswith("image "):
        return ImageUnavailable(details)
    if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ExecutorBusy(f"executor busy: {details}")
    if exc.code() in _REJECTIONS:
        return ExecutorRejected(f"executor refused the call: {details}")
    return ExecutorUnavailable(f"executor unavailable: {details}")
