"""`nexflow up` that cannot start says why in one line and exits 1: no traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.harness import NEXFLOW, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail]


def _up(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEXFLOW), "up", "--home", str(tmp_path / "home"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "NEXFLOW_SANDBOX__BACKEND": "nsjail", **env},
    )


def test_unreachable_database(tmp_path: Path) -> None:
    done = _up(tmp_path, NEXFLOW_DATABASE_URL=f"postgresql+asyncpg://x@127.0.0.1:{free_port()}/x")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "the audit store cannot be opened (ConnectionRefusedError)" in output
    assert "Traceback" not in output


def test_broken_policy(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "broken.rego").write_text("package nexflow.authz\n\ndecision := {\n")
    done = _up(tmp_path, NEXFLOW_POLICY_DIR=str(policies))
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "control_plane.start_failed" in output and "broken.rego" in output
    assert "Traceback" not in output
