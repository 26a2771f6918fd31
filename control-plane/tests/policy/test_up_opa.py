"""`nexflow up --opa`: a real stack deciding with its own OPA server, which never outlives it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.harness import Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.opa]


def _opa_pid(stack: Stack) -> int:
    for line in stack.log_path.read_text().splitlines():
        if '"opa.started"' in line:
            return int(json.loads(line)["pid"])
    raise AssertionError("no opa.started line in the log")


def _gone(pid: int, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_up_opa_decides_with_opa_and_takes_it_down(tmp_path: Path) -> None:
    """Calls are decided by the OPA server; SIGKILL of `up` still stops that server."""
    stack = start_stack(tmp_path, "--opa", "--sandbox", "nsjail")
    others = [p for p in _children(stack.proc.pid) if p != _opa_pid(stack)]  # the executor
    try:
        opa = _opa_pid(stack)
        response = stack.call("echo", {"message": "hi"})
        assert response.status_code == 200, response.text
        loaded = stack.client.get("/api/v1/audit", params={"action": "policy.loaded"}).json()
        assert loaded["events"][0]["payload"]["engine"] == "opa"
        decided = stack.client.get("/api/v1/audit", params={"action": "call.decided"}).json()
        assert decided["events"][0]["policy_revision"] == loaded["events"][0]["policy_revision"]
    finally:
        stack.stop(signal.SIGKILL)
        for pid in others:  # `up` cannot stop its executor once SIGKILLed
            os.kill(pid, signal.SIGTERM)
    assert _gone(opa), "the OPA server outlived `nexflow up`"
    assert all(_gone(pid) for pid in others)


def test_up_stops_when_its_opa_server_dies(tmp_path: Path) -> None:
    """If the OPA server exits, `up` stops the stack and exits 1 (as when the executor dies)."""
    stack = start_stack(tmp_path, "--opa", "--sandbox", "nsjail")
    try:
        os.kill(_opa_pid(stack), signal.SIGTERM)
        assert stack.proc.wait(timeout=30) == 1
        assert '"opa.exited"' in stack.log_path.read_text()
    finally:
        stack.stop()
