"""End to end: `nexflow up` on a temporary home, driven over HTTP like a user would."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import REPO, Stack, start_stack, writes_without_approval
from tests.skill_calls import approved, approver

pytestmark = [pytest.mark.e2e]


def test_echo_round_trip(stack: Stack) -> None:
    """echo returns exactly its input, run in the sandbox, with a call id and timings."""
    payload = {"message": "héllo", "data": [1, 2, {"deep": True}]}
    resp = stack.call("echo", payload)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "succeeded"
    assert body["output"] == payload
    assert body["exit_code"] == 0 and body["kill_reason"] == "none"
    assert body["call_id"].startswith("c_") and body["duration_ms"] >= 0
    assert body["backend"] == stack.client.get("/health").json()["sandbox"]["backend"]


def test_file_read_of_granted_file(stack: Stack) -> None:
    """file-read returns a file that lies inside the workspace."""
    (stack.workspace / "notes").mkdir(exist_ok=True)
    (stack.workspace / "notes" / "a.txt").write_text("inside the workspace\n")
    resp = stack.call("file-read", {"path": "notes/a.txt"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["output"]["content"] == "inside the workspace\n"


def test_file_write_then_read(stack: Stack) -> None:
    """file-write (approved by an operator) creates a file in the workspace that file-read
    and the host then see."""
    with approver(stack) as person:
        status, _ = approved(
            stack, person, "file-write", {"path": "out/w.txt", "content": "written"}
        )
    assert status == "succeeded"
    assert (stack.workspace / "out" / "w.txt").read_text() == "written"
    assert stack.call("file-read", {"path": "out/w.txt"}).json()["output"]["content"] == "written"


@pytest.mark.parametrize(
    "path",
    ["/etc/shadow", "../admin.token", "../../../../etc/passwd", "/workspace/../nexflow.db"],
)
def test_file_read_outside_workspace_is_refused_by_policy(stack: Stack, path: str) -> None:
    """Paths that resolve outside the workspace are denied before anything runs."""
    resp = stack.call("file-read", {"path": path})
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body["error"] == "policy_denied"
    assert "path_outside_grant" in [r["code"] for r in body["reasons"]]


def test_symlink_out_of_workspace_is_refused(stack: Stack) -> None:
    """A symlink in the workspace pointing out of it is judged by where it really points."""
    link = stack.workspace / "innocent.txt"
    if not link.is_symlink():
        link.symlink_to(stack.home / "admin.token")
    resp = stack.call("file-read", {"path": "innocent.txt"})
    assert resp.status_code == 403, resp.text
    assert "path_outside_grant" in [r["code"] for r in resp.json()["reasons"]]


def test_unknown_skill_is_404(stack: Stack) -> None:
    """Calling a skill that is not installed answers 404 skill_not_found."""
    resp = stack.call("no-such-skill", {})
    assert resp.status_code == 404
    assert resp.json()["error"] == "skill_not_found"


def test_bad_input_is_422_naming_the_field(stack: Stack) -> None:
    """Input that breaks the skill's schema answers 422 naming the field."""
    resp = stack.call("file-read", {"path": 42})
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["error"] == "invalid_input" and body["field"] == "input.path"
    resp = stack.call("file-read", {"path": "a", "bogus": 1})
    assert resp.status_code == 422 and resp.json()["field"] == "input"


def test_malformed_bodies_get_clear_errors(stack: Stack) -> None:
    """Non-JSON, non-object and oversized bodies get stable codes, never a traceback."""
    r = stack.client.post("/api/v1/skills/echo", content=b"{not json")
    assert r.status_code == 422 and r.json()["error"] == "invalid_json"
    r = stack.client.post("/api/v1/skills/echo", json=[1, 2])
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"
    r = stack.client.post("/api/v1/skills/echo", content=b"x" * (2 * 1024 * 1024))
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    for r in (stack.client.get("/api/v1/nowhere"), stack.client.delete("/api/v1/skills/echo")):
        assert "Traceback" not in r.text and "error" in r.json()


def test_unauthenticated_is_401(stack: Stack) -> None:
    """No token, a wrong token, or a wrong scheme answers 401 and runs nothing."""
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {stack.token}"},
    ):
        r = httpx.post(f"{stack.url}/api/v1/skills/echo", json={"input": {}}, headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"] == "unauthenticated"


def test_shell_run_needs_approval(stack: Stack) -> None:
    """shell-run waits for approval (202 pending_approval), and nothing runs meanwhile."""
    marker = stack.workspace / "shell-ran"
    resp = stack.call("shell-run", {"command": f"touch {marker.name}"})
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "pending_approval"
    assert "approval_required_shell" in {r["code"] for r in resp.json()["reasons"]}
    story = stack.client.get(f"/api/v1/calls/{resp.json()['call_id']}").json()
    assert story["status"] == "pending_approval"
    assert "call.dispatched" not in [e["action"] for e in story["events"]]
    assert not marker.exists()


def test_every_step_is_audited(stack: Stack) -> None:
    """A call leaves requested, decided, dispatched and finished events, chained and verifiable."""
    call_id = stack.call("echo", {"message": "audit me"}).json()["call_id"]
    story = stack.client.get(f"/api/v1/calls/{call_id}").json()
    assert [e["action"] for e in story["events"]] == [
        "call.requested",
        "call.decided",
        "call.dispatched",
        "call.finished",
    ]
    assert story["status"] == "succeeded"
    decided = story["events"][1]
    assert decided["decision"] == "allow" and decided["policy_revision"].startswith("sha256:")
    refused = stack.call("file-read", {"path": "/etc/shadow"}).json()
    events = stack.client.get("/api/v1/audit", params={"call_id": refused["call_id"]}).json()
    assert any(e["decision"] == "deny" for e in events["events"])
    assert stack.client.get("/api/v1/audit/verify").json()["ok"] is True


def test_metrics_are_prometheus(stack: Stack) -> None:
    """The metrics endpoint counts calls by skill and status and has a latency histogram."""
    stack.call("echo", {})
    text = stack.client.get("/api/v1/metrics").text
    assert 'nexflow_calls_total{skill="echo",status="succeeded"}' in text
    assert "nexflow_call_duration_seconds_bucket" in text


def test_cli_call_and_lint(stack: Stack) -> None:
    """`nexflow skill call` prints the result; `skill lint` validates the built-in skills."""
    out = stack.cli("skill", "call", "echo", "--input", '{"message": "via cli"}')
    assert out.returncode == 0, out.stderr
    assert '"message": "via cli"' in out.stdout
    lint = stack.cli("skill", "lint", str(REPO / "skills"))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert stack.cli("skill", "lint", "/nonexistent").returncode == 2


def test_audit_verify_detects_a_tampered_row(own_stack: Stack) -> None:
    """Editing one stored event is caught by the API and the CLI, naming its sequence number."""
    for i in range(3):
        assert own_stack.call("echo", {"data": i}).status_code == 200
    db = own_stack.home / "nexflow.db"
    with sqlite3.connect(db) as conn:
        seq = conn.execute(
            "SELECT seq FROM audit_events WHERE action='call.requested'"
            " ORDER BY seq LIMIT 1 OFFSET 1"
        ).fetchone()[0]
        conn.execute("UPDATE audit_events SET actor='mallory' WHERE seq=?", (seq,))
    report = own_stack.client.get("/api/v1/audit/verify").json()
    assert report["ok"] is False and report["first_bad_seq"] == seq
    cli = own_stack.cli("audit", "verify", "--json")
    assert cli.returncode == 1 and f'"first_bad_seq": {seq}' in cli.stdout


def test_ctrl_c_stops_both_processes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGINT stops the control plane and the executor cleanly: exit 0, socket gone."""
    s = start_stack(tmp_path)
    sock = s.home / "run" / "executor.sock"
    assert sock.exists()
    children = _children(s.proc.pid)
    assert children, "the executor should run as a child process"
    assert s.stop(signal.SIGINT) == 0, s.log_path.read_text()
    for pid in children:
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)
    assert not sock.exists()


def test_up_exits_when_the_executor_dies(own_stack: Stack) -> None:
    """If the executor dies, `up` does not keep serving a control plane that cannot run calls."""
    for pid in _children(own_stack.proc.pid):
        os.kill(pid, signal.SIGKILL)
    assert own_stack.proc.wait(timeout=20) == 1


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] == "Z"
    except OSError:
        return True


@pytest.fixture
def writing_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of this test's own whose file-write runs without approval."""
    s = start_stack(tmp_path, env=writes_without_approval(tmp_path))
    yield s
    s.stop()


def test_audit_store_down_refuses_calls(writing_stack: Stack) -> None:
    """While the audit store cannot be written, calls are refused with 503 and never run."""
    own_stack = writing_stack
    marker = own_stack.workspace / "ran-without-audit.txt"
    lock = sqlite3.connect(own_stack.home / "nexflow.db", timeout=1, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # another writer holds the database
        resp = own_stack.call("file-write", {"path": marker.name, "content": "x"})
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"] == "audit_unavailable"
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert not marker.exists()
    # Once the store is back, calls run again and the chain is intact.
    assert own_stack.call("echo", {"message": "back"}).json()["status"] == "succeeded"
    assert own_stack.client.get("/api/v1/audit/verify").json()["ok"] is True


def test_home_keeps_secrets_private(stack: Stack) -> None:
    """The token, the audit database and the executor socket are readable by their owner only."""
    for path in (
        stack.home / "admin.token",
        stack.home / "nexflow.db",
        stack.home / "nexflow.db-wal",
        stack.home / "run" / "executor.sock",
    ):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"
