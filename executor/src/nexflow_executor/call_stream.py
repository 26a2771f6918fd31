"""One Execute stream's writer: Started exactly once and first, then Output, Egress and
Finished events, one write at a time."""

from __future__ import annotations

import asyncio
import time

import grpc
from nexflow.executor.v1 import executor_pb2 as pb

from nexflow_executor.backends import BACKEND_ENUM
from nexflow_executor.egress import EgressRecord
from nexflow_executor.sandbox.base import RunResult, Stream
from nexflow_executor.tracing import CallSpans

__all__ = ["CallStream"]

_STREAM_ENUM = {Stream.STDOUT: pb.STREAM_STDOUT, Stream.STDERR: pb.STREAM_STDERR}


class CallStream:
    """Serialises the writes of one Execute stream and sends Started exactly once, first."""

    def __init__(
        self,
        context: grpc.aio.ServicerContext[pb.ExecuteRequest, pb.ExecuteEvent],
        call_id: str,
        backend: str,
        spans: CallSpans,
    ) -> None:
        self._context = context
        self._spans = spans
        self._lock = asyncio.Lock()
        self._call_id = call_id
        self._backend = BACKEND_ENUM[backend]
        self.started = False
        self.begin = time.monotonic()

    async def _write_started(self, image_id: str = "", warm: bool = False) -> None:
        if not self.started:
            self.started = True
            self._spans.started(image_id, warm)
            event = pb.Started(
                call_id=self._call_id,
                backend=self._backend,
                started_at_unix_ms=time.time_ns() // 1_000_000,
                image_id=image_id,
                warm=warm,
            )
            await self._context.write(pb.ExecuteEvent(started=event))

    async def send_started(self, image_id: str = "", warm: bool = False) -> None:
        async with self._lock:
            await self._write_started(image_id, warm)

    async def send_output(self, stream: Stream, data: bytes) -> None:
        async with self._lock:
            await self._write_started()
            output = pb.Output(stream=_STREAM_ENUM[stream], data=data)
            await self._context.write(pb.ExecuteEvent(output=output))

    async def send_egress(self, record: EgressRecord) -> None:
        async with self._lock:
            await self._write_started()
            event = pb.Egress(
                host=record.host,
                port=record.port,
                method=record.method,
                address=record.address,
                allowed=record.allowed,
                reason=record.reason,
                grant=record.grant,
                bytes_up=record.bytes_up,
                bytes_down=record.bytes_down,
                started_at_unix_ms=record.started_at_unix_ms,
                duration_ms=record.duration_ms,
                seq=record.seq,
            )
            await self._context.write(pb.ExecuteEvent(egress=event))

    async def send_finished(self, result: RunResult, egress_dropped: int = 0) -> None:
        async with self._lock:
            await self._write_started()
            finished = pb.Finished(
                exit_code=result.exit_code,
                kill_reason=int(result.kill_reason),
                wall_time_ms=result.wall_time_ms,
                cpu_time_ms=result.cpu_time_ms,
                peak_memory_bytes=result.peak_memory_bytes,
                truncated=result.truncated,
                stdout_bytes=result.stdout_bytes,
                stderr_bytes=result.stderr_bytes,
                detail=result.detail,
                egress_dropped=egress_dropped,
            )
            await self._context.write(pb.ExecuteEvent(finished=finished))
