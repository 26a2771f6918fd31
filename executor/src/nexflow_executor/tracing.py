"""OpenTelemetry traces of the executor's side of a call, continuing the control plane's.

Off by default: without `otel.endpoint` no tracer provider is installed and every span is
the API's no-op. On (`start_tracing`, in `main`), spans are batched and sent over
OTLP/HTTP (protobuf) to ``{endpoint}/v1/traces`` as ``service.name=nexflow-executor``.

`served` opens an RPC's server span under the trace context the client sent in its
metadata (W3C ``traceparent``/``tracestate``). Below ``Execute``, `CallSpans` times the
sandbox's phases: ``sandbox.launch`` (from asking the backend until the script started:
a warm container taken, or one created, or nsjail spawned), then ``sandbox.run`` (until
it ended), and ``egress.proxy`` (the call's proxy, with connection counts and bytes).

Attributes carry ids, names, statuses, sizes and durations only: never stdin, env,
output, a secret, or an exception's message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from nexflow_common.tracing import failed, install_provider
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import Attributes

from nexflow_executor.egress import EgressRecord
from nexflow_executor.errors import KillReason
from nexflow_executor.sandbox.base import RunResult
from nexflow_executor.settings import OtelSettings

__all__ = ["TRACER", "CallSpans", "failed", "served", "start_tracing"]

SERVICE_NAME = "nexflow-executor"
TRACER = trace.get_tracer("nexflow.executor")
_PROPAGATED = ("traceparent", "tracestate")


def start_tracing(settings: OtelSettings, executor_id: str) -> TracerProvider | None:
    """Install the process's tracer provider exporting to `settings.endpoint`; None (and
    nothing installed) when no endpoint is set. The caller shuts it down at exit."""
    return install_provider(
        settings.endpoint,
        resource={"service.name": SERVICE_NAME, "service.instance.id": executor_id},
        flush_ms=settings.flush_ms,
        timeout_s=settings.timeout_s,
    )


@contextmanager
def served(
    name: str, context: grpc.aio.ServicerContext[Any, Any], attributes: Attributes
) -> Iterator[Span]:
    """The server span of one RPC, a child of the span the client's metadata names."""
    carrier = {
        key: value
        for key, value in (context.invocation_metadata() or ())
        if key in _PROPAGATED and isinstance(value, str)
    }
    with TRACER.start_as_current_span(
        name,
        context=propagate.extract(carrier),
        kind=SpanKind.SERVER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except grpc.aio.AbortError:
            raise  # the refusal already marked the span with its status code
        except BaseException as exc:
            failed(span, type(exc).__name__)
            raise


class CallSpans:
    """The spans below one call's ``Execute`` span (see the module docstring)."""

    def __init__(self, backend: str) -> None:
        self._call = trace.get_current_span()
        self._parent = trace.set_span_in_context(self._call)
        self._call.set_attribute("nexflow.backend", backend)
        self._launch: Span | None = TRACER.start_span("sandbox.launch", self._parent)
        self._run: Span | None = None
        self._egress: Span | None = None
        self._connections = {True: 0, False: 0}
        self._bytes = [0, 0]

    def started(self, image_id: str, warm: bool) -> None:
        """The script started: launch ends, run begins."""
        if self._launch is None:
            return
        self._launch.set_attribute("nexflow.warm", warm)
        if image_id:
            self._launch.set_attribute("nexflow.image_id", image_id)
        self._launch.end()
        self._launch = None
        self._run = TRACER.start_span("sandbox.run", self._parent)

    def ended(self, result: RunResult | None, error: str = "") -> None:
        """The sandbox is done: its result on the spans, or the error code it failed with."""
        for span in (self._launch, self._run):
            if span is None:
                continue
            if result is not None:
                _describe(span, result)
                _describe(self._call, result)
            else:
                failed(span, error)
            span.end()
        self._launch = self._run = None

    def egress(
        self, send: Callable[[EgressRecord], Awaitable[None]]
    ) -> Callable[[EgressRecord], Awaitable[None]]:
        """Open ``egress.proxy``; `send` wrapped to count what it records."""
        self._egress = TRACER.start_span("egress.proxy", self._parent)

        async def counted(record: EgressRecord) -> None:
            self._connections[record.allowed] += 1
            self._bytes[0] += record.bytes_up
            self._bytes[1] += record.bytes_down
            await send(record)

        return counted

    def egress_closed(self, dropped: int) -> None:
        """The proxy is closed: its counts on ``egress.proxy``, which ends."""
        span, self._egress = self._egress, None
        if span is None:
            return
        span.set_attribute("nexflow.egress.allowed", self._connections[True])
        span.set_attribute("nexflow.egress.refused", self._connections[False])
        span.set_attribute("nexflow.egress.dropped", dropped)
        span.set_attribute("nexflow.egress.bytes_up", self._bytes[0])
        span.set_attribute("nexflow.egress.bytes_down", self._bytes[1])
        span.end()


def _describe(span: Span, result: RunResult) -> None:
    span.set_attribute("nexflow.exit_code", result.exit_code)
    span.set_attribute("nexflow.kill_reason", KillReason(result.kill_reason).name.lower())
    span.set_attribute("nexflow.wall_time_ms", result.wall_time_ms)
    span.set_attribute("nexflow.cpu_time_ms", result.cpu_time_ms)
    span.set_attribute("nexflow.peak_memory_bytes", result.peak_memory_bytes)
    span.set_attribute("nexflow.stdout_bytes", result.stdout_bytes)
    span.set_attribute("nexflow.stderr_bytes", result.stderr_bytes)
    span.set_attribute("nexflow.truncated", result.truncated)
