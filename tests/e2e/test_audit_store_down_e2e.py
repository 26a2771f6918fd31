"""End to end on PostgreSQL: while the audit database is down, calls are refused and never run.

A private PostgreSQL server (not the session's shared one) is crashed under a running
`nexflow up`: a `file-write` is answered 503 `audit_unavailable` and its file never
appears; once the server is back, calls run again without restarting the control plane
and the chain verifies. (The SQLite variant is `test_spine.test_audit_store_down_refuses_calls`.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import Stack, start_stack, writes_without_approval
from tests.pg import PgServer, PgUnavailable, pg_rows

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.nsjail,
    pytest.mark.xdist_group("audit-store-down-e2e"),
]


@pytest.fixture
def private_pg() -> Iterator[PgServer]:
    """A PostgreSQL server of this test's own, which it may crash and restart."""
    try:
        server = PgServer.start(prefix="nexflow-pg-down-")
    except PgUnavailable as exc:
        pytest.skip(f"PostgreSQL cannot be started: {exc}")
    yield server
    server.stop()


def _write(stack: Stack, name: str) -> httpx.Response:
    return stack.call("file-write", {"path": f"down/{name}", "content": name})


def test_calls_are_refused_while_postgres_is_down(tmp_path: Path, private_pg: PgServer) -> None:
    """PostgreSQL crashed: file-write is 503 audit_unavailable and writes nothing; restarted:
    the same control plane runs calls again and the chain verifies."""
    url = private_pg.create_database()
    env = {"NEXFLOW_DATABASE_URL": url, **writes_without_approval(tmp_path)}
    stack = start_stack(tmp_path, "--sandbox", "nsjail", env=env)
    try:
        before = _write(stack, "before.txt")
        assert before.status_code == 200 and before.json()["status"] == "succeeded", before.text
        assert (stack.workspace / "down" / "before.txt").read_text() == "before.txt"

        private_pg.crash()
        for name in ("while-down-1.txt", "while-down-2.txt"):
            refused = _write(stack, name)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"] == "audit_unavailable", refused.text
        assert stack.call("echo", {"message": "down"}).status_code == 503
        verify_down = stack.client.get("/api/v1/audit/verify")
        assert verify_down.status_code == 503, verify_down.text
        time.sleep(1)  # a call that was dispatched anyway would have written by now
        assert sorted(p.name for p in (stack.workspace / "down").iterdir()) == ["before.txt"]

        private_pg.restart()
        after = _write(stack, "after.txt")
        assert after.status_code == 200 and after.json()["status"] == "succeeded", after.text
        assert after.json()["audit_complete"] is True
        assert (stack.workspace / "down" / "after.txt").read_text() == "after.txt"
        verify = stack.client.get("/api/v1/audit/verify")
        assert verify.status_code == 200, verify.text
        assert verify.json()["ok"] is True, verify.json()

        # Down and back while idle: the pooled connections are dead, the next call must
        # still not fail.
        private_pg.crash()
        private_pg.restart()
        idle = _write(stack, "after-idle.txt")
        assert idle.status_code == 200 and idle.json()["status"] == "succeeded", idle.text
    finally:
        assert stack.stop() == 0
    rows = pg_rows(url, "SELECT call_id, action FROM audit_events WHERE skill = 'file-write'")
    dispatched = [r["call_id"] for r in rows if r["action"] == "call.dispatched"]
    finished = [r["call_id"] for r in rows if r["action"] == "call.finished"]
    assert len(dispatched) == 3 and sorted(dispatched) == sorted(finished)
    assert before.json()["call_id"] in finished and after.json()["call_id"] in finished
