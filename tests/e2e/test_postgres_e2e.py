"""End to end on PostgreSQL: `nexflow up` with NEXFLOW_DATABASE_URL on a real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from nexflow_control.db import migrations

from tests.harness import start_stack
from tests.pg import PgServer, pg_rows

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nsjail]


def test_echo_and_verify_on_postgres(tmp_path: Path, pg_server: PgServer) -> None:
    """On PostgreSQL the stack migrates, runs echo, chains its events and verifies the chain."""
    url = pg_server.create_database()
    stack = start_stack(tmp_path, "--sandbox", "nsjail", env={"NEXFLOW_DATABASE_URL": url})
    try:
        resp = stack.call("echo", {"message": "on postgres"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["output"] == {"message": "on postgres"}
        verify = stack.client.get("/api/v1/audit/verify")
        assert verify.status_code == 200, verify.text
        assert verify.json()["ok"] is True and verify.json()["checked"] >= 3
    finally:
        assert stack.stop() == 0
    actions = [r["action"] for r in pg_rows(url, "SELECT action FROM audit_events ORDER BY seq")]
    assert "call.dispatched" in actions and "call.finished" in actions
    assert not (stack.home / "nexflow.db").exists()  # nothing went to the SQLite default
    (version,) = pg_rows(url, "SELECT version_num FROM alembic_version")
    assert version["version_num"] == migrations.head()
