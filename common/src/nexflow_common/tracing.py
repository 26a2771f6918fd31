"""What every service's OpenTelemetry tracing shares: installing the exporting provider
(off unless an endpoint is set) and marking a span failed by a stable code. Each service
keeps its own spans; none of them carries a secret, an input, an output or an exception's
message."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, StatusCode

__all__ = ["failed", "install_provider"]


def install_provider(
    endpoint: object | None,
    *,
    resource: dict[str, str],
    flush_ms: int,
    timeout_s: float,
) -> TracerProvider | None:
    """Install the process's tracer provider, batching spans over OTLP/HTTP (protobuf) to
    ``{endpoint}/v1/traces``; None (and nothing installed) when `endpoint` is None. The
    caller shuts it down at exit."""
    if endpoint is None:
        return None
    base = str(endpoint).rstrip("/")
    exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=timeout_s)
    provider = TracerProvider(resource=Resource.create(dict(resource)))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=flush_ms))
    trace.set_tracer_provider(provider)
    return provider


def failed(span: Span, code: str) -> None:
    """Mark `span` failed with a stable code (an error code, a gRPC status name, an error
    type); never a message, which may quote the input."""
    span.set_attribute("nexflow.error", code)
    span.set_status(StatusCode.ERROR, code)
