"""End to end: hostile HTTP input against `nexflow up` on a real socket. Every class of
input the edge refuses gets a stable 4xx and leaves no trace in the audit log; a skill
whose output cannot be sent back as JSON still answers with its call id and a complete
story; clients that go away are counted, not logged as errors."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness import Stack, python_skill, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.xdist_group("hostile-http")]

SPEW_RUN = r"""
import json, sys, time
kind = json.load(sys.stdin)["kind"]
out = {
    "nan": b'{"x": NaN, "y": -Infinity}',
    "overflow": b'{"x": 1e999999}',
    "huge": b'{"x": ' + b"9" * 5000 + b"}",
    "surrogate": b'{"s": "\\ud800 alone"}',
    "deep": b"[" * 5000 + b"]" * 5000,
    "bytes": b'{"a": "\xff\xfe"} \xed\xa0\x80',
    "sleep": b'{"slept": true}',
}[kind]
if kind == "sleep":
    time.sleep(3)
sys.stderr.buffer.write(b"err \xff\xed\xa0\x80\n")
sys.stdout.buffer.write(out)
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("hostile")
    python_skill(
        tmp / "skills",
        "spew",
        SPEW_RUN,
        description="Write output that is not plain JSON (tests of the HTTP edge).",
        input_schema={
            "type": "object",
            "properties": {"kind": {"type": "string"}},
            "required": ["kind"],
            "additionalProperties": False,
        },
        timeout_sec=20,
        max_output_kb=256,
    )
    s = start_stack(
        tmp,
        *("--sandbox", "nsjail", "--skills", str(tmp / "skills")),
        *("--trust-skill", "echo", "--trust-skill", "spew"),
    )
    yield s
    s.stop()


def _head(stack: Stack) -> int:
    """The audit log's last seq."""
    page = stack.client.get("/api/v1/audit", params={"limit": 1})
    assert page.status_code == 200, page.text
    return int(page.json()["events"][0]["seq"])


def _refused(stack: Stack, raw: bytes, code: str, field: str | None = None) -> None:
    """POST `raw` to echo: 422 `code` (naming `field`), and nothing was recorded."""
    before = _head(stack)
    reply = stack.client.post(
        "/api/v1/skills/echo", content=raw, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["error"] == code, body
    if field is not None:
        assert body["field"] == field, body
    assert "call_id" not in body and "Traceback" not in reply.text
    assert _head(stack) == before


def _echo(stack: Stack, raw: bytes) -> Any:
    reply = stack.client.post(
        "/api/v1/skills/echo", content=raw, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["output"]


def test_lone_surrogates_and_bad_utf8_are_refused(stack: Stack) -> None:
    """A lone surrogate in a value or a key, or a body that is not UTF-8: 422, no record."""
    _refused(stack, rb'{"input": {"message": "a\ud800b"}}', "invalid_string", "input.message")
    _refused(stack, rb'{"input": {"data": ["\udfff"]}}', "invalid_string", "input.data.0")
    _refused(stack, rb'{"input": {"\ud83d": 1}}', "invalid_string", "input")
    _refused(stack, b'{"input": {"message": "\xff"}}', "invalid_json")
    assert _echo(stack, rb'{"input": {"message": "\ud83d\ude00"}}') == {"message": "😀"}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999999", "-1e400"])
def test_non_finite_numbers_are_refused(stack: Stack, number: str) -> None:
    """NaN, Infinity and numbers that overflow a double: 422 number_out_of_range."""
    _refused(stack, b'{"input": {"data": %s}}' % number.encode(), "number_out_of_range")


def test_integers_outside_64_bits_are_refused(stack: Stack) -> None:
    """Integers beyond the signed 64-bit range (or thousands of digits): 422; the bounds
    themselves pass through a real skill unchanged."""
    for n in (str(2**63), str(-(2**63) - 1), "9" * 5000):
        _refused(stack, b'{"input": {"data": %s}}' % n.encode(), "number_out_of_range")
    bounds = [2**63 - 1, -(2**63), 1.5e308]
    assert _echo(stack, json.dumps({"input": {"data": bounds}}).encode()) == {"data": bounds}


def test_deep_nesting_is_refused(stack: Stack) -> None:
    """Nesting deeper than 64 (or deep enough to exhaust a recursive parser): 422
    json_too_deep; 60 levels run."""
    for depth in (64, 100_000):
        raw = b'{"input": {"data": ' + b"[" * depth + b"]" * depth + b"}}"
        _refused(stack, raw, "json_too_deep")
    nested = b"[" * 60 + b"]" * 60
    assert _echo(stack, b'{"input": {"data": ' + nested + b"}}") == {"data": json.loads(nested)}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/audit", {"before": str(2**63)}, "before"),
        ("/api/v1/audit", {"before": "9" * 40}, "before"),
        ("/api/v1/audit", {"limit": "0"}, "limit"),
        ("/api/v1/audit", {"since": "0001-01-01T00:00:00+05:00"}, "since"),
        ("/api/v1/audit", {"until": "9999-12-31T23:59:59-05:00"}, "until"),
        ("/api/v1/audit", {"since": "10000-01-01T00:00:00"}, "since"),
        ("/api/v1/audit", {"actor": "x" * 10_000}, "actor"),
        ("/api/v1/audit/export", {"since": "0001-01-01T00:00:00+01:00"}, "since"),
        ("/api/v1/approvals", {"limit": "9" * 30}, "limit"),
    ],
)
def test_query_parameters_out_of_range_are_422(
    stack: Stack, path: str, params: dict[str, str], field: str
) -> None:
    """Out-of-range integers and dates in a query: 422 invalid_request naming the
    parameter, never a 500 or a 503 as if the store were down."""
    reply = stack.client.get(path, params=params)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "invalid_request" and reply.json()["field"] == field


@pytest.mark.parametrize("kind", ["nan", "overflow", "huge", "surrogate", "deep", "bytes"])
def test_output_that_is_not_json_safe_still_answers_with_a_record(stack: Stack, kind: str) -> None:
    """A skill whose stdout holds NaN, an overflowing or huge number, a lone surrogate,
    5000-deep nesting or bytes that are not UTF-8: 200 with its call id, the output kept
    as text, and a complete audit story that is itself served as JSON."""
    reply = stack.call("spew", {"kind": kind})
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert result["status"] == "succeeded", result
    assert isinstance(result["output"], str) and result["output"] == result["stdout"]
    assert "\ufffd" in result["stderr"]
    story = stack.client.get(f"/api/v1/calls/{result['call_id']}")
    assert story.status_code == 200, story.text
    actions = [e["action"] for e in story.json()["events"]]
    assert actions == ["call.requested", "call.decided", "call.dispatched", "call.finished"]
    assert story.json()["result"]["output"] == story.json()["result"]["stdout"]


def _metric(stack: Stack, stage: str) -> float:
    text = stack.client.get("/api/v1/metrics").text
    for line in text.splitlines():
        if line.startswith(f'nexflow_client_disconnects_total{{stage="{stage}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _raw_request(stack: Stack, head: bytes, body: bytes) -> None:
    host, port = stack.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)


def _log_lines(stack: Stack, event: str) -> list[str]:
    return [line for line in stack.log_path.read_text().splitlines() if event in line]


def _until(check: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_client_dropping_mid_body_is_counted_not_an_error(stack: Stack) -> None:
    """A client that sends half its body and hangs up: the disconnect metric counts it,
    one info line says so, and the log holds no traceback and no error line for it."""
    before = _metric(stack, "request_body")
    seen = len(_log_lines(stack, "http.client_disconnected"))
    head = (
        b"POST /api/v1/skills/echo HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + stack.token.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    _raw_request(stack, head, b'{"input": {"mess')
    _until(lambda: _metric(stack, "request_body") == before + 1, "disconnect not counted")
    lines = _log_lines(stack, "http.client_disconnected")[seen:]
    assert len(lines) == 1 and "request_body" in lines[0]
    log = stack.log_path.read_text()
    assert "Traceback" not in log and "api.unhandled_error" not in log


def test_client_gone_before_the_answer_is_counted_and_the_call_recorded(stack: Stack) -> None:
    """A client that hangs up while its skill runs: the call still finishes and is
    recorded, the disconnect is counted (`before_answer`), and nothing is logged as an
    error."""
    before = _metric(stack, "before_answer")
    last = stack.client.get(
        "/api/v1/audit", params={"skill": "spew", "action": "call.finished", "limit": 1}
    ).json()["events"]
    seq_before = last[0]["seq"] if last else 0
    body = b'{"input": {"kind": "sleep"}}'
    head = (
        b"POST /api/v1/skills/spew HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + stack.token.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    _raw_request(stack, head, body)
    _until(lambda: _metric(stack, "before_answer") == before + 1, "disconnect not counted")

    seen: list[dict[str, Any]] = []

    def finished() -> bool:
        # The newest call.finished of spew (read once: a later event must not hide it).
        page = stack.client.get(
            "/api/v1/audit", params={"skill": "spew", "action": "call.finished", "limit": 1}
        )
        seen[:] = page.json()["events"]
        return bool(seen) and seen[0]["seq"] > seq_before

    _until(finished, "the abandoned call never finished")
    assert seen[0]["payload"]["status"] == "succeeded"
    assert "Traceback" not in stack.log_path.read_text()


def test_openapi_declares_every_body_and_answer(stack: Stack) -> None:
    """The OpenAPI document declares the bodies of the run, approval and auth routes and
    a typed answer (not a bare object) for every JSON route."""
    doc = httpx.get(f"{stack.url}/api/openapi.json").json()
    for path in (
        "/api/v1/skills/{name}",
        "/api/v1/approvals/{approval_id}/approve",
        "/auth/login",
        "/auth/password",
    ):
        assert "requestBody" in doc["paths"][path]["post"], path
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, answer in op["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if schema is not None:
                    # One model, or a choice of models (a 202 is pending or started).
                    typed = [schema] if "$ref" in schema else schema.get("anyOf", [])
                    assert typed and all("$ref" in t for t in typed), (method, path, status)
    assert "ErrorBody" in doc["components"]["schemas"]
