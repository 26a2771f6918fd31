"""End to end: one OpenTelemetry trace per call across the control plane and the executor.

A real `nexflow up` (nsjail) exports to a real OTLP/HTTP receiver started here, which
decodes the protobuf export requests the two services send.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.harness import start_stack
from tests.otlp_receiver import ReceivedSpan, otlp_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail]

MARKER = "do-not-trace-7f3a91"
"""In the call's input and so its output: it must appear in no span."""


def _by_name(spans: list[ReceivedSpan], service: str, name: str) -> ReceivedSpan:
    (span,) = [s for s in spans if s.service == service and s.name == name]
    return span


def _by_id(spans: list[ReceivedSpan], span_id: str) -> ReceivedSpan:
    return next(s for s in spans if s.span_id == span_id)


def _ancestors(spans: list[ReceivedSpan], span: ReceivedSpan) -> list[str]:
    chain = []
    while span.parent_id:
        chain.append(span.parent_id)
        span = _by_id(spans, span.parent_id)
    return chain


def test_one_call_is_one_trace_across_the_grpc_hop(tmp_path: Path) -> None:
    """A call's spans from both services share one trace id: HTTP > … > call > dispatch >
    executor.execute on the control plane, its child Execute on the executor (context
    carried in gRPC metadata) with sandbox.launch and sandbox.run below; no span carries
    the input, the output or the token."""
    with otlp_receiver() as receiver:
        env = {"NEXFLOW_OTEL__ENDPOINT": receiver.url, "NEXFLOW_OTEL__FLUSH_MS": "100"}
        stack = start_stack(tmp_path, "--sandbox", "nsjail", env=env)
        try:
            reply = stack.call("echo", {"message": MARKER})
            assert reply.status_code == 200, reply.text
            assert MARKER in reply.text  # the output carries it too
            call_id = reply.json()["call_id"]

            def complete(spans: list[ReceivedSpan]) -> bool:
                ids = {s.trace_id for s in spans if s.attributes.get("nexflow.call_id") == call_id}
                names = {(s.service, s.name) for s in spans if s.trace_id in ids}
                return {
                    ("nexflow-control-plane", "POST /api/v1/skills/{name}"),
                    ("nexflow-executor", "Execute"),
                    ("nexflow-executor", "sandbox.run"),
                } <= names

            spans = receiver.wait_for(complete)
            token = stack.token
        finally:
            stack.stop()
    call = next(s for s in spans if s.name == "call" and s.attributes["nexflow.call_id"] == call_id)
    trace = [s for s in spans if s.trace_id == call.trace_id]
    cp, ex = "nexflow-control-plane", "nexflow-executor"
    http = _by_name(trace, cp, "POST /api/v1/skills/{name}")
    dispatch = _by_name(trace, cp, "dispatch")
    # The first call of a skill on a fresh executor is also its bundle's first trip: an
    # Execute refused with bundle_missing, a PutBundle, then the Execute that runs.
    (client,) = [
        s for s in trace if s.name == "executor.execute" and "nexflow.exit_code" in s.attributes
    ]
    execute = next(s for s in trace if s.name == "Execute" and s.parent_id == client.span_id)
    launch = _by_name(trace, ex, "sandbox.launch")
    run = _by_name(trace, ex, "sandbox.run")
    assert http.parent_id == "" and http.attributes["http.response.status_code"] == 200
    assert http.span_id in _ancestors(trace, call)
    assert call.attributes["nexflow.skill"] == "echo"
    assert call.attributes["nexflow.status"] == "succeeded"
    for step in ("input.validate", "policy.decide", "dispatch"):
        assert _by_name(trace, cp, step).parent_id == call.span_id
    assert _by_name(trace, cp, "policy.decide").attributes["nexflow.allow"] is True
    assert client.parent_id == dispatch.span_id and client.service == cp
    assert client.attributes["nexflow.executor"] == "local"
    # The hop: the executor's server span is the child of the control plane's client span.
    assert execute.service == ex
    assert execute.attributes["nexflow.call_id"] == call_id
    assert execute.attributes["nexflow.exit_code"] == 0
    assert execute.attributes["nexflow.kill_reason"] == "none"
    assert execute.attributes["nexflow.backend"] == "nsjail"
    for put in [s for s in trace if s.name == "PutBundle"]:
        assert _by_id(trace, put.parent_id).name == "bundle.upload"
    assert launch.parent_id == execute.span_id and run.parent_id == execute.span_id
    assert int(str(run.attributes["nexflow.stdout_bytes"])) > len(MARKER)
    for span in spans:
        for key, value in span.attributes.items():
            assert MARKER not in str(value), (span.name, key)
            assert token not in str(value), (span.name, key)


def test_exporter_off_sends_nothing(tmp_path: Path) -> None:
    """Without NEXFLOW_OTEL__ENDPOINT nothing is exported, even with OpenTelemetry's own
    environment variables pointing both services at a live receiver: off by default."""
    with otlp_receiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        stack = start_stack(tmp_path, "--sandbox", "nsjail", env=env)
        try:
            for i in range(5):
                reply = stack.call("echo", {"message": f"quiet {i}"})
                assert reply.status_code == 200, reply.text
            time.sleep(2.5)  # past any flush interval, had anything been on
        finally:
            stack.stop()
        assert receiver.requests == 0 and receiver.snapshot() == []
