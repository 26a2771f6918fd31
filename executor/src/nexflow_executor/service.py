"""The gRPC servicer: `Execute` streams Started → (Output | Egress)* → Finished; `Cancel`,
`Describe`, `PutBundle` (bundles/).

A call is admitted first (admission.py: a free slot, not draining), then validated; a
call that names a bundle holds it in the cache until it ends.

A call with network grants gets its own egress proxy (egress/), handed to the backend in
`RunSpec.egress`; its connection records stream as `Egress` events, and it is closed —
every connection ended, every record sent — before `Finished`.

One canonical log line per call (`executor.call`): ids, backend, exit, kill reason,
durations and byte counts, never stdin, env or output. Errors are translated by
`errors.to_grpc_status` only; a client never sees a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

import grpc
import structlog
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow.executor.v1 import executor_pb2_grpc as pb_grpc
from opentelemetry import trace

from nexflow_executor.admission import Admission
from nexflow_executor.backends import Backends
from nexflow_executor.bundles import BundleStore, receive_bundle
from nexflow_executor.call_stream import CallStream
from nexflow_executor.egress import CallEgress, Egress
from nexflow_executor.errors import ExecutorError, KillReason, PreconditionFailed, to_grpc_status
from nexflow_executor.sandbox.base import RunResult, RunSpec, Sandbox
from nexflow_executor.settings import Settings
from nexflow_executor.tracing import CallSpans, failed, served
from nexflow_executor.validation import validate_request

__all__ = ["ExecutorService"]

log = structlog.get_logger("nexflow_executor")
_CANCEL_WAIT_S = 10.0


class ExecutorService(pb_grpc.ExecutorServicer):  # type: ignore[misc]
    """Runs requests on the configured sandbox backend."""

    def __init__(
        self, settings: Settings, backends: Backends, bundles: BundleStore, admission: Admission
    ) -> None:
        self._settings = settings
        self._backends = backends
        self._bundles = bundles
        self._admission = admission
        self._id = settings.id
        self._running: dict[str, asyncio.Event] = {}
        self._egress = Egress(settings.egress)

    def close(self) -> None:
        """Release what the service holds between calls (the egress namespace thread)."""
        self._egress.close()

    async def Execute(
        self,
        request: pb.ExecuteRequest,
        context: grpc.aio.ServicerContext[pb.ExecuteRequest, pb.ExecuteEvent],
    ) -> None:
        attributes = {"nexflow.call_id": request.call_id[:64], "nexflow.executor": self._id}
        with served("Execute", context, attributes):
            await self._execute(request, context)

    async def _execute(
        self,
        request: pb.ExecuteRequest,
        context: grpc.aio.ServicerContext[pb.ExecuteRequest, pb.ExecuteEvent],
    ) -> None:
        call_id = request.call_id
        with (
            structlog.contextvars.bound_contextvars(call_id=call_id[:64]),
            contextlib.ExitStack() as held,
        ):
            try:
                held.enter_context(self._admission.admit())
                spec = validate_request(request, self._settings, self._bundles.path_of)
                if request.bundle_sha256:  # held until the call ends: never evicted meanwhile
                    held.enter_context(self._bundles.hold(request.bundle_sha256))
                backend = self._backends.pick(request.backend, spec.image)
                structlog.contextvars.bind_contextvars(backend=backend.name)
                if call_id in self._running:
                    raise PreconditionFailed(f"call_id: {call_id!r} is already running")
            except ExecutorError as exc:
                await self._refuse(context, exc)
                return
            except Exception:
                log.exception("executor.call", outcome="internal_error")
                await context.abort(*to_grpc_status(RuntimeError()))
                return
            cancel = asyncio.Event()
            self._running[call_id] = cancel
            spans = CallSpans(backend.name)
            stream = CallStream(context, call_id, backend.name, spans)
            egress: CallEgress | None = None
            if spec.network:
                egress = self._egress.for_call(spec.network, spans.egress(stream.send_egress))
                spec = dataclasses.replace(spec, egress=egress)
            try:
                await self._run(backend, spec, stream, cancel, context, egress, spans)
            finally:
                self._running.pop(call_id, None)
                if egress is not None:
                    spans.egress_closed(await egress.close())

    async def _run(
        self,
        backend: Sandbox,
        spec: RunSpec,
        stream: CallStream,
        cancel: asyncio.Event,
        context: grpc.aio.ServicerContext[pb.ExecuteRequest, pb.ExecuteEvent],
        egress: CallEgress | None,
        spans: CallSpans,
    ) -> None:
        task = asyncio.create_task(
            backend.run(spec, stream.send_started, stream.send_output, cancel)
        )
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:  # the client went away: kill, log, let gRPC finish
            cancel.set()
            await asyncio.wait({task}, timeout=_CANCEL_WAIT_S)
            _log_result(task, disconnected=True)
            spans.ended(None, "client_gone")
            raise
        except ExecutorError as exc:
            spans.ended(None, type(exc).__name__)
            detail = getattr(exc, "detail", "")
            log.warning("executor.call", outcome="sandbox_error", error=exc.message, detail=detail)
            await self._refuse(context, exc)
            return
        except Exception:
            spans.ended(None, "internal_error")
            log.exception("executor.call", outcome="internal_error")
            await context.abort(*to_grpc_status(RuntimeError()))
            return
        spans.ended(result)
        dropped = await egress.close() if egress is not None else 0
        spans.egress_closed(dropped)
        await stream.send_finished(result, dropped)
        _log_result(task, disconnected=False)

    async def _refuse(
        self,
        context: grpc.aio.ServicerContext[pb.ExecuteRequest, pb.ExecuteEvent],
        exc: ExecutorError,
    ) -> None:
        code, message = to_grpc_status(exc)
        log.info("executor.call", outcome="refused", code=code.name, message=message)
        failed(trace.get_current_span(), code.name)
        await context.abort(code, message)

    async def Cancel(
        self,
        request: pb.CancelRequest,
        context: grpc.aio.ServicerContext[pb.CancelRequest, pb.CancelResponse],
    ) -> pb.CancelResponse:
        cancel = self._running.get(request.call_id)
        if cancel is None or cancel.is_set():
            return pb.CancelResponse(found=False)
        cancel.set()
        log.info("executor.cancel", call_id=request.call_id[:64])
        return pb.CancelResponse(found=True)

    async def Describe(
        self,
        request: pb.DescribeRequest,
        context: grpc.aio.ServicerContext[pb.DescribeRequest, pb.DescribeResponse],
    ) -> pb.DescribeResponse:
        response = self._backends.describe()
        response.slots_total = self._admission.total
        response.slots_busy = self._admission.busy
        response.draining = self._admission.draining
        response.executor_id = self._settings.id
        return response

    async def PutBundle(
        self,
        request_iterator: AsyncIterator[pb.BundleChunk],
        context: grpc.aio.ServicerContext[pb.BundleChunk, pb.PutBundleResponse],
    ) -> pb.PutBundleResponse:
        with served("PutBundle", context, {"nexflow.executor": self._id}) as span:
            reply = await self._put_bundle(request_iterator, context)
            span.set_attribute("nexflow.stored", reply.stored)
            return reply

    async def _put_bundle(
        self,
        request_iterator: AsyncIterator[pb.BundleChunk],
        context: grpc.aio.ServicerContext[pb.BundleChunk, pb.PutBundleResponse],
    ) -> pb.PutBundleResponse:
        try:
            self._admission.check_open()
            limit = self._settings.bundles.max_bytes
            digest, stored = await receive_bundle(request_iterator, self._bundles, limit)
        except ExecutorError as exc:
            code, message = to_grpc_status(exc)
            log.info("executor.bundle", outcome="refused", code=code.name, message=message)
            failed(trace.get_current_span(), code.name)
            await context.abort(code, message)
        except Exception:
            log.exception("executor.bundle", outcome="internal_error")
            await context.abort(*to_grpc_status(RuntimeError()))
        log.info("executor.bundle", outcome="stored" if stored else "held", sha256=digest)
        return pb.PutBundleResponse(stored=stored)


def _log_result(task: asyncio.Task[RunResult], *, disconnected: bool) -> None:
    if not task.done() or task.cancelled() or task.exception() is not None:
        log.warning("executor.call", outcome="client_gone" if disconnected else "failed")
        return
    result = task.result()
    log.info(
        "executor.call",
        outcome="client_gone" if disconnected else "finished",
        exit_code=result.exit_code,
        kill_reason=KillReason(result.kill_reason).name,
        wall_ms=result.wall_time_ms,
        cpu_ms=result.cpu_time_ms,
        peak_memory_bytes=result.peak_memory_bytes,
        truncated=result.truncated,
        stdout_bytes=result.stdout_bytes,
        stderr_bytes=result.stderr_bytes,
    )
