"""The one error-to-status mapping and the output plumbing, without a sandbox."""

from __future__ import annotations

import grpc
from nexflow_executor.errors import (
    BackendUnavailable,
    InvalidRequest,
    PreconditionFailed,
    SandboxError,
    to_grpc_status,
)
from nexflow_executor.sandbox.output import LoaderNoiseFilter


def test_each_error_kind_maps_to_its_status():
    """Each branch of the tree gets its documented gRPC code and its own message."""
    assert to_grpc_status(InvalidRequest("stdin", "too big")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "stdin: too big",
    )
    assert to_grpc_status(PreconditionFailed("x"))[0] == grpc.StatusCode.FAILED_PRECONDITION
    assert to_grpc_status(BackendUnavailable("x"))[0] == grpc.StatusCode.UNAVAILABLE
    assert to_grpc_status(SandboxError("x", "log"))[0] == grpc.StatusCode.INTERNAL


def test_unknown_errors_become_internal_without_their_text():
    """An unexpected exception is INTERNAL with a generic message: its text never leaks."""
    code, message = to_grpc_status(PermissionError("/secret/path"))
    assert code == grpc.StatusCode.INTERNAL
    assert "/secret" not in message


def test_loader_noise_is_dropped_but_skill_stderr_is_kept():
    """Only leading loader warnings about the nsjail binary are dropped, split chunks included."""
    noise = LoaderNoiseFilter("/opt/nsjail")
    line = b"/opt/nsjail: /lib/libnl-3.so.200: no version information available (required by x)\n"
    assert noise.feed(line[:10]) == b""
    assert noise.feed(line[10:] + line + b"/opt/nsjail: real") == b""
    assert noise.feed(b" skill text\n") == b"/opt/nsjail: real skill text\n"
    assert noise.feed(line) == line  # after the first skill byte nothing is dropped
