"""The gateway without its parts (no control plane, bad settings): clear errors, no
traceback. (Without a model it answers commands: `test_commands_e2e`.)"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.tests.conftest import (
    GATEWAY,
    Gateway,
    migrated_database,
    start_gateway,
    stop_gateway,
)
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
    listed = orphan.client.get("/api/v1/sessions")
    assert listed.status_code == 503, "nobody can be recognised without the control plane"
    assert listed.json()["error"] == "control_plane_unavailable"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"NEXFLOW_GATEWAY__TOKEN": ""}, "NEXFLOW_GATEWAY__TOKEN"),
        (
            {"NEXFLOW_GATEWAY__TOKEN": "t", "NEXFLOW_LLM__MAX_STEPS": "many"},
            "NEXFLOW_LLM__MAX_STEPS",
        ),
        ({"NEXFLOW_GATEWAY__TOKEN": "t", "NEXFLOW_LLM__MAX_STEPS": "0"}, "NEXFLOW_LLM__MAX_STEPS"),
        (
            {"NEXFLOW_GATEWAY__TOKEN": "t", "NEXFLOW_DATABASE_URL": "sqlite+aiosqlite:///"},
            "start the control plane on it first",
        ),
    ],
)
def test_bad_settings_stop_the_start_plainly(
    env: dict[str, str], named: str, tmp_path: Path
) -> None:
    """A missing token, a bad setting or a database without the chat tables: exit 2, the
    variable named, no traceback."""
    done = subprocess.run(
        [str(GATEWAY), "serve"],
        capture_output=True,
        text=True,
        env={**os.environ, "NEXFLOW_DATABASE_URL": migrated_database(tmp_path), **env},
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert named in done.stderr and "Traceback" not in done.stderr + done.stdout
