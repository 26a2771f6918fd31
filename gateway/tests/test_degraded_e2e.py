"""The gateway with its control plane gone: a clear error, no traceback, and it recovers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.tests.conftest import Gateway, start_gateway, stop_gateway
from gateway.tests.scripted_llm import ScriptedLLM, say
from tests.harness import free_port

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def orphan(llm: ScriptedLLM, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway pointed at a port where nothing listens."""
    started = start_gateway(tmp_path, llm, f"http://127.0.0.1:{free_port()}", "nxf_x_unused")
    yield started
    stop_gateway(started)


def test_control_plane_down_is_a_clear_503(orphan: Gateway, llm: ScriptedLLM) -> None:
    """No control plane: `control_plane_unavailable` 503, the model is never asked."""
    llm.script(say("should not be asked"))
    reply = orphan.chat("hello")
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"] == "control_plane_unavailable"
    assert "Traceback" not in reply.text and "Traceback" not in orphan.log()
    assert llm.requests == []
    assert orphan.client.get("/health").status_code == 200
    assert orphan.client.get("/api/v1/sessions").json()["sessions"] == [], "no empty session"
