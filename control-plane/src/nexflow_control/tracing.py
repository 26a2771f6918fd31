"""OpenTelemetry traces: one trace per call, from the HTTP request to the sandbox and back.

Off by default: without `otel.endpoint` no tracer provider is installed, so `TRACER` is
the API's no-op tracer and no HTTP middleware is added. On (`start_tracing`), spans are
batched and sent over OTLP/HTTP (protobuf) to ``{endpoint}/v1/traces`` as
``service.name=nexflow-control-plane``.

The spans of one call: ``POST /api/v1/skills/{name}`` (`TraceRequests`) > ``call`` >
``input.validate``, ``policy.decide``, ``dispatch`` > ``queue.wait``, ``bundle.upload``,
``executor.execute`` — whose context travels to the executor in gRPC metadata
(`grpc_metadata`: W3C ``traceparent``/``tracestate``), where ``Execute`` continues it.
A wait for approval is no span (it may last hours): the approved call's dispatch is
traced under the request that approved it.

Attributes carry ids, names, statuses, sizes and durations only: never a token, a
secret, an input or an output, nor an exception's message (it may quote the input).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nexflow_common.tracing import failed, install_provider
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.util.types import Attributes
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import OtelSettings

__all__ = ["TRACER", "TraceRequests", "failed", "grpc_metadata", "start_tracing", "step"]

SERVICE_NAME = "nexflow-control-plane"
TRACER = trace.get_tracer("nexflow.control")
"""Resolves to the installed provider once `start_tracing` ran; a no-op before."""

_PROPAGATED = (b"traceparent", b"tracestate")


def start_tracing(settings: OtelSettings, service: str = SERVICE_NAME) -> TracerProvider | None:
    """Install the process's tracer provider exporting to `settings.endpoint`; None (and
    nothing installed) when no endpoint is set. The caller shuts it down at exit."""
    return install_provider(
        settings.endpoint,
        resource={"service.name": service},
        flush_ms=settings.flush_ms,
        timeout_s=settings.timeout_s,
    )


def grpc_metadata() -> tuple[tuple[str, str], ...]:
    """The current trace context as gRPC metadata (empty when nothing is traced)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items())


@contextmanager
def step(
    name: str, attributes: Attributes = None, *, kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[Span]:
    """A span for one step of a call; an error marks it with its stable `code` (or its
    type's name), never its message."""
    with TRACER.start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            code = getattr(exc, "code", None)
            failed(span, code if isinstance(code, str) else type(exc).__name__)
            raise


class TraceRequests:
    """ASGI middleware: one server span per HTTP request, continuing a caller's
    ``traceparent``; named by method and route template, never the query string."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope.get("headers", [])
            if k in _PROPAGATED
        }
        method = str(scope.get("method", "GET"))
        with TRACER.start_as_current_span(
            f"HTTP {method}",
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(StatusCode.ERROR, str(status))
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")
