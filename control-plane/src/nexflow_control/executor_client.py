"""The control plane's side of the gRPC contract: dispatch one call, collect its events.

gRPC errors are translated here and nowhere else: routes never see `grpc.RpcError`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow.executor.v1 import executor_pb2_grpc as pb_grpc

from .errors import ExecutorUnavailable, NexflowError


class ExecutorRejected(NexflowError):
    """The executor refused a request the control plane built: a configuration or grant problem."""

    status, code = 502, "executor_rejected"


class ImageUnavailable(NexflowError):
    """The skill's container image is not on the executor's host, or is not the one its
    version was built into: build it with `nexflow image build`."""

    status, code = 503, "image_unavailable"


@dataclass
class Execution:
    """Everything the executor reported about one call."""

    backend: str = ""
    image_id: str = ""
    warm: bool = False
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    egress: list[pb.Egress] = field(default_factory=list)  # connection attempts, in order
    finished: pb.Finished | None = None


_REJECTIONS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.OUT_OF_RANGE,
}


def _map_rpc_error(exc: grpc.aio.AioRpcError) -> NexflowError:
    details = exc.details() or exc.code().name
    if exc.code() == grpc.StatusCode.FAILED_PRECONDITION and details.startswith("image "):
        return ImageUnavailable(details)
    if exc.code() in _REJECTIONS:
        return ExecutorRejected(f"executor refused the call: {details}")
    return ExecutorUnavailable(f"executor unavailable: {details}")


class ExecutorClient:
    """One long-lived channel to the executor's unix socket."""

    def __init__(self, socket_path: Path, *, connect_timeout_s: float = 5.0) -> None:
        self.target = f"unix://{socket_path}"
        self._connect_timeout_s = connect_timeout_s
        self._channel = grpc.aio.insecure_channel(self.target)
        self._stub = pb_grpc.ExecutorStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def healthy(self) -> bool:
        """True when the executor answers its health check as SERVING."""
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service="nexflow.executor.v1.Executor"),
                timeout=self._connect_timeout_s,
            )
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def describe(self) -> dict[str, Any] | None:
        """The executor's backends and warm pool (its Describe RPC), or None if unreachable."""
        try:
            reply = await self._stub.Describe(pb.DescribeRequest(), timeout=self._connect_timeout_s)
        except grpc.aio.AioRpcError:
            return None

        def name(value: int) -> str:
            return str(pb.Backend.Name(value)).removeprefix("BACKEND_").lower()

        return {
            "backend": name(reply.default_backend),
            "available": [name(b.backend) for b in reply.backends if b.available],
            "unavailable": {name(b.backend): b.reason for b in reply.backends if not b.available},
            "pool": {"ready": reply.pool_ready, "profiles": reply.pool_profiles},
        }

    async def execute(self, request: pb.ExecuteRequest, *, output_cap: int) -> Execution:
        """Run one call and collect its stream; stdout/stderr kept up to `output_cap` bytes each."""
        result = Execution()
        # The overall deadline is the executor's business (wall-time limit); ours only
        # guards against an executor that never finishes the stream.
        deadline = request.limits.wall_time_ms / 1000 + 30 if request.limits.wall_time_ms else 660
        call = self._stub.Execute(request, timeout=deadline, wait_for_ready=False)
        try:
            async for event in call:
                kind = event.WhichOneof("event")
                if kind == "output":
                    buf = (
                        result.stdout if event.output.stream == pb.STREAM_STDOUT else result.stderr
                    )
                    room = output_cap - len(buf)
                    if room > 0:
                        buf += event.output.data[:room]
                elif kind == "started":
                    result.backend = pb.Backend.Name(event.started.backend)
                    result.image_id = event.started.image_id
                    result.warm = event.started.warm
                elif kind == "egress":
                    result.egress.append(event.egress)
                elif kind == "finished":
                    result.finished = event.finished
        except grpc.aio.AioRpcError as exc:
            raise _map_rpc_error(exc) from exc
        finally:
            with contextlib.suppress(Exception):
                call.cancel()
        if result.finished is None:
            raise ExecutorUnavailable("executor ended the call without reporting how it finished")
        return result

    async def cancel(self, call_id: str) -> bool:
        try:
            reply = await self._stub.Cancel(pb.CancelRequest(call_id=call_id), timeout=5)
        except grpc.aio.AioRpcError as exc:
            raise _map_rpc_error(exc) from exc
        return bool(reply.found)
