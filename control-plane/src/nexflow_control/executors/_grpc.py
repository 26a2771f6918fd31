"""One executor over one gRPC channel: the control plane's side of the contract.

gRPC errors are translated here (`map_rpc_error`) and nowhere else: callers see the
seam's errors only.
"""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow.executor.v1 import executor_pb2_grpc as pb_grpc
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import Attributes

from ..errors import ExecutorUnavailable
from ..tracing import grpc_metadata, step
from ._bundles import Bundle, BundleCache
from ._errors import ExecutorLost, ExecutorRejected, map_rpc_error
from ._proto import Collector, bundle_chunks, described, execute_request
from ._types import ExecutionSpec, ExecutorState, Outcome
from ._volumes import Volumes

SERVICE = "nexflow.executor.v1.Executor"
CHUNK_BYTES = 1024 * 1024
"""PutBundle chunk size (the contract's maximum)."""


class _BundleMissing(Exception):
    """The executor does not hold the bundle the request named."""

    code = "bundle_missing"


class GrpcExecutor:
    """One long-lived channel to one executor (a unix socket, or TCP with mutual TLS).

    Which contract it speaks is read from `Describe`: an executor that names itself
    (`executor_id`) gets skills by bundle digest and grants by volume; one that does not
    (a local executor of the path contract) gets host paths, as before. A remote executor
    is always sent bundles and volumes: host paths mean nothing on its machine.
    """

    def __init__(
        self,
        target: str,
        *,
        name: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        server_name: str | None = None,
        connect_timeout_s: float = 5.0,
        volumes: Volumes | None = None,
        bundles: BundleCache | None = None,
    ) -> None:
        self.target = target
        self.name = name or target
        self.remote = credentials is not None
        self._connect_timeout_s = connect_timeout_s
        self._volumes = volumes or Volumes({})
        self._bundles = bundles or BundleCache()
        self._by_digest: bool | None = True if self.remote else None
        self._uploads: dict[str, asyncio.Future[bool]] = {}  # bundles being sent now
        if credentials is None:
            self._channel = grpc.aio.insecure_channel(target)
        else:
            options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
            self._channel = grpc.aio.secure_channel(target, credentials, options=options)
        self._stub = pb_grpc.ExecutorStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def healthy(self) -> bool:
        """True when the executor answers its health check as SERVING."""
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=self._connect_timeout_s
            )
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def state(self) -> ExecutorState:
        """Its health and `Describe` answer now."""
        if not await self.healthy():
            return ExecutorState(self.name, self.target, healthy=False)
        try:
            reply = await self._stub.Describe(pb.DescribeRequest(), timeout=self._connect_timeout_s)
        except grpc.aio.AioRpcError:
            return ExecutorState(self.name, self.target, healthy=True)
        state = described(self.name, self.target, reply)
        self._by_digest = self.remote or bool(state.executor_id)
        return state

    async def states(self) -> list[ExecutorState]:
        return [await self.state()]

    async def execute(self, spec: ExecutionSpec, *, output_cap: int) -> Outcome:
        """Run one call and collect its stream (see `Executor.execute`)."""
        if self._by_digest is None:
            await self.state()
        if not self._by_digest:
            if spec.skill_shared:  # the path contract mounts the folder alone
                raise ExecutorRejected(
                    f"the skill ships shared files ({', '.join(n for n, _ in spec.skill_shared)}) "
                    f"that only a bundle carries; executor {self.name} takes no bundles"
                )
            return await self._run(execute_request(spec), output_cap)
        if self.remote:
            for m in spec.mounts:
                if self._volumes.locate(m.host_path) is None:
                    raise ExecutorRejected(
                        f"the grant {m.host_path} lies in no volume; "
                        f"executor {self.name} takes volume grants only"
                    )
        bundle = await self._bundles.get(spec.skill_dir, spec.skill_digest, spec.skill_shared)
        request = execute_request(spec, bundle.sha256, self._volumes.locate)
        try:
            return await self._run(request, output_cap, bundle.sha256)
        except _BundleMissing:
            await self._upload_once(bundle)
            return await self._run(request, output_cap, bundle.sha256, resend=False)

    async def _upload_once(self, bundle: Bundle) -> None:
        """Send `bundle`; calls that miss it while it is on its way wait for that upload."""
        upload = self._uploads.get(bundle.sha256)
        if upload is None:
            upload = asyncio.ensure_future(self.put_bundle(bundle))
            self._uploads[bundle.sha256] = upload
            upload.add_done_callback(lambda _: self._uploads.pop(bundle.sha256, None))
        await asyncio.shield(upload)

    async def put_bundle(self, bundle: Bundle) -> bool:
        """Send one bundle (PutBundle); False when the executor already held it."""
        chunks = bundle_chunks(bundle.sha256, bundle.data, CHUNK_BYTES)
        attributes: Attributes = {
            "nexflow.executor": self.name,
            "nexflow.bundle_bytes": len(bundle.data),
        }
        with step("bundle.upload", attributes, kind=SpanKind.CLIENT) as span:
            try:
                reply = await self._stub.PutBundle(
                    iter(chunks), timeout=60, metadata=grpc_metadata()
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:  # a size limit, not a slot
                    raise ExecutorRejected(
                        f"executor {self.name} refused the skill's bundle: {exc.details()}"
                    ) from exc
                raise map_rpc_error(exc) from exc
            span.set_attribute("nexflow.stored", bool(reply.stored))
        return bool(reply.stored)

    async def _run(
        self,
        request: pb.ExecuteRequest,
        output_cap: int,
        bundle_sha256: str = "",
        *,
        resend: bool = True,
    ) -> Outcome:
        attributes = {"nexflow.executor": self.name, "nexflow.call_id": request.call_id}
        with step("executor.execute", attributes, kind=SpanKind.CLIENT) as span:
            outcome = await self._stream(request, output_cap, bundle_sha256, resend)
            _describe(span, outcome)
            return outcome

    async def _stream(
        self, request: pb.ExecuteRequest, output_cap: int, bundle_sha256: str, resend: bool
    ) -> Outcome:
        collected = Collector(output_cap)
        # The overall deadline is the executor's business (wall-time limit); ours only
        # guards against an executor that never finishes the stream.
        deadline = request.limits.wall_time_ms / 1000 + 30 if request.limits.wall_time_ms else 660
        call = self._stub.Execute(
            request, timeout=deadline, wait_for_ready=False, metadata=grpc_metadata()
        )
        try:
            async for event in call:
                collected.add(event)
        except grpc.aio.AioRpcError as exc:
            if collected.started:
                raise ExecutorLost(
                    f"executor {self.name} was lost mid-call: {exc.details() or exc.code().name}"
                ) from exc
            missing = f"bundle_missing {bundle_sha256}"
            if (
                resend
                and bundle_sha256
                and exc.code() == grpc.StatusCode.FAILED_PRECONDITION
                and (exc.details() or "").startswith(missing)
            ):
                raise _BundleMissing from exc
            raise map_rpc_error(exc) from exc
        finally:
            with contextlib.suppress(Exception):
                call.cancel()
        outcome = collected.outcome(self.name, bundle_sha256)
        if outcome is None:
            message = "executor ended the call without reporting how it finished"
            if collected.started:
                raise ExecutorLost(f"{message} ({self.name})")
            raise ExecutorUnavailable(message)
        return outcome

    async def cancel(self, call_id: str) -> bool:
        try:
            reply = await self._stub.Cancel(pb.CancelRequest(call_id=call_id), timeout=5)
        except grpc.aio.AioRpcError as exc:
            raise map_rpc_error(exc) from exc
        return bool(reply.found)


def _describe(span: Span, outcome: Outcome) -> None:
    """How the call ended, on its span: status, exit, kill reason, sizes (no content)."""
    span.set_attribute("nexflow.status", outcome.status)
    span.set_attribute("nexflow.exit_code", outcome.exit_code)
    span.set_attribute("nexflow.kill_reason", str(outcome.kill_reason))
    span.set_attribute("nexflow.backend", outcome.backend)
    span.set_attribute("nexflow.warm", outcome.warm)
    span.set_attribute("nexflow.stdout_bytes", len(outcome.stdout))
    span.set_attribute("nexflow.stderr_bytes", len(outcome.stderr))
    span.set_attribute("nexflow.wall_time_ms", outcome.usage.wall_time_ms)
