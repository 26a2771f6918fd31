"""Scheduled calls against real `nexflow up` processes (nsjail): each due time runs once
when two control planes share one database (PostgreSQL and SQLite), a schedule fires
across a restart exactly once, a run too late is recorded as missed, and every run goes
through the policy, approval and audit path as its owner."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.harness import Stack, start_pair, start_stack
from tests.pg import pg_rows

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail]

FAST = {"NEXFLOW_SCHEDULES__TICK_S": "0.2"}


def _rows(url: str, sql: str) -> list[dict[str, Any]]:
    """Rows of `sql` from the shared database, whichever it is."""
    if url.startswith("sqlite"):
        con = sqlite3.connect(url.split("///", 1)[1])
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute(sql)]
        finally:
            con.close()
    return [dict(r) for r in pg_rows(url, sql)]


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One database for the control planes of a test: a SQLite file or a PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    return str(request.getfixturevalue("pg_server").create_database("sched"))


@pytest.fixture
def planes(tmp_path: Path, db_url: str) -> Iterator[tuple[Stack, Stack]]:
    """Control planes `a` and `b` (each with its executor) on one database, one admin token."""
    env = {**FAST, "NEXFLOW_DATABASE_URL": db_url}
    a, b = start_pair(tmp_path, "--sandbox", "nsjail", env=env)
    yield a, b
    assert b.stop() == 0
    assert a.stop() == 0


def _user_client(stack: Stack, name: str, roles: list[str]) -> httpx.Client:
    assert (
        stack.client.post("/api/v1/users", json={"name": name, "roles": roles}).status_code == 201
    )
    token = stack.client.post(f"/api/v1/users/{name}/tokens", json={"name": "t"}).json()["token"]
    return httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _wait_for(check: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_each_due_time_runs_once_across_two_control_planes(
    planes: tuple[Stack, Stack], db_url: str
) -> None:
    """Twelve one-shots due at one instant, two control planes claiming every 0.2 s: each
    runs exactly once (one schedule_runs row, one schedule.fired, one call), as its owner."""
    a, b = planes
    with _user_client(a, "olga", ["user"]) as olga:
        due = _at(4)
        ids = []
        for i in range(12):
            body = {"skill": "echo", "input": {"message": f"run {i}"}, "at": due}
            made = olga.post("/api/v1/schedules", json=body)
            assert made.status_code == 201, made.text
            assert made.json()["owner"] == "olga" and made.json()["status"] == "active"
            ids.append(made.json()["id"])

        def all_done() -> bool:
            listed = olga.get("/api/v1/schedules").json()["schedules"]
            return all(s["status"] == "done" and s["last_call_id"] for s in listed)

        _wait_for(all_done)
        time.sleep(1.5)  # a second claimant that were to run late would show by now
        listed = {s["id"]: s for s in olga.get("/api/v1/schedules").json()["schedules"]}
    assert b.client.get("/health").status_code == 200  # b claimed all along, too
    runs = _rows(db_url, "SELECT schedule_id, outcome, claimed_by FROM schedule_runs")
    assert sorted(r["schedule_id"] for r in runs) == sorted(ids)
    assert {r["outcome"] for r in runs} == {"fired"}
    fired = _rows(db_url, "SELECT seq FROM audit_events WHERE action = 'schedule.fired'")
    assert len(fired) == 12
    calls = {s["last_call_id"] for s in listed.values()}
    requested = _rows(
        db_url, "SELECT call_id, actor FROM audit_events WHERE action = 'call.requested'"
    )
    mine = [r for r in requested if r["call_id"] in calls]
    assert len(mine) == 12 and {r["actor"] for r in mine} == {"olga"}

    def all_finished() -> bool:
        rows = _rows(db_url, "SELECT call_id FROM audit_events WHERE action = 'call.finished'")
        return calls <= {r["call_id"] for r in rows}

    _wait_for(all_finished)


def test_a_schedule_fires_across_a_restart_once_and_a_late_one_is_missed(tmp_path: Path) -> None:
    """Stopped before two one-shots were due, started after: the one within the grace
    window (5 min) runs once at start-up, the one an hour late (its due time moved back
    in the stopped database, as an hour of downtime would leave it) is `schedule.missed`
    and never runs."""
    env = FAST
    first = start_stack(tmp_path, "--sandbox", "nsjail", env=env)
    early = first.client.post(
        "/api/v1/schedules", json={"skill": "echo", "input": {"message": "early"}, "at": _at(2)}
    )
    late_ok = first.client.post(
        "/api/v1/schedules", json={"skill": "echo", "input": {"message": "late"}, "at": _at(2)}
    )
    assert early.status_code == 201 and late_ok.status_code == 201, early.text
    assert first.stop() == 0
    time.sleep(3)  # both are due now, and no control plane runs
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    con = sqlite3.connect(first.home / "nexflow.db")
    with con:
        con.execute(
            "UPDATE schedules SET next_run = ?, run_at = ? WHERE id = ?",
            (hour_ago, hour_ago, early.json()["id"]),
        )
    con.close()
    second = start_stack(tmp_path, "--sandbox", "nsjail", env=env)
    try:

        def settled() -> bool:
            listed = second.client.get("/api/v1/schedules").json()["schedules"]
            return all(s["status"] == "done" and s["last_outcome"] != "claimed" for s in listed)

        _wait_for(settled)
        time.sleep(1)
        listed = {s["id"]: s for s in second.client.get("/api/v1/schedules").json()["schedules"]}
        missed = listed[early.json()["id"]]
        ran = listed[late_ok.json()["id"]]
        assert missed["last_outcome"] == "missed" and missed["last_call_id"] is None
        assert ran["last_outcome"] == "running" and ran["last_call_id"]
        audit = second.client.get("/api/v1/audit", params={"limit": 1000}).json()["events"]
        actions = [(e["action"], (e.get("payload") or {}).get("schedule_id")) for e in audit]
        assert actions.count(("schedule.fired", ran["id"])) == 1
        assert actions.count(("schedule.missed", missed["id"])) == 1
        assert ("schedule.fired", missed["id"]) not in actions
        requested = [e for e in audit if e["action"] == "call.requested"]
        assert [e["call_id"] for e in requested] == [ran["last_call_id"]]
    finally:
        assert second.stop() == 0


def test_schedule_routes_refuse_bad_input_and_keep_others_out(tmp_path: Path) -> None:
    """Impossible, too frequent or malformed timing, a bad zone or destination (or a chat
    that is not the creator's linked one), an unknown
    skill or bad input: 422/404 with stable codes and nothing stored; a schedule needing
    approval runs into a pending approval; pause/resume/rm work and others see nothing; one
    principal holds at most NEXFLOW_SCHEDULES__MAX_PER_OWNER schedules (409 schedule_limit)."""
    env = {**FAST, "NEXFLOW_SCHEDULES__MAX_PER_OWNER": "2"}
    stack = start_stack(tmp_path, "--sandbox", "nsjail", env=env)
    try:
        c = stack.client
        cases = [
            ({"cron": "0 0 30 2 *"}, 422, "schedule_never_fires"),
            ({"cron": "* * * * * *"}, 422, "invalid_cron"),
            ({"cron": "61 * * * *"}, 422, "invalid_cron"),
            ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, 422, "invalid_timezone"),
            ({"at": "2020-01-01T00:00:00Z"}, 422, "schedule_in_past"),
            ({}, 422, "invalid_schedule"),
            ({"cron": "0 7 * * *", "at": _at(60)}, 422, "invalid_schedule"),
            ({"cron": "0 7 * * *", "destination": "email:me"}, 422, "invalid_destination"),
            ({"cron": "0 7 * * *", "destination": "telegram:12345"}, 422, "destination_not_linked"),
            ({"cron": "0 7 * * *", "skill": "no-such-skill"}, 404, "skill_not_found"),
            ({"cron": "0 7 * * *", "input": {"nope": 1}}, 422, None),
        ]
        for extra, status, code in cases:
            body = {"skill": "echo", "input": {"message": "x"}, **extra}
            resp = c.post("/api/v1/schedules", json=body)
            assert resp.status_code == status, (extra, resp.text)
            if code is not None:
                assert resp.json()["error"] == code, resp.text
        assert c.get("/api/v1/schedules").json()["schedules"] == []
        made = c.post(
            "/api/v1/schedules",
            json={"skill": "echo", "input": {"message": "x"}, "cron": "30 7 * * 1-5",
                  "timezone": "Europe/Berlin", "destination": "web"},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        sid = made.json()["id"]
        local = datetime.fromisoformat(made.json()["next_run"]).astimezone(
            ZoneInfo("Europe/Berlin")
        )
        assert (local.hour, local.minute) == (7, 30) and local.weekday() < 5
        second = {"skill": "echo", "input": {"message": "y"}, "cron": "0 9 * * *"}
        extra = c.post("/api/v1/schedules", json=second)
        assert extra.status_code == 201, extra.text
        over = c.post("/api/v1/schedules", json=second)
        assert over.status_code == 409 and over.json()["error"] == "schedule_limit", over.text
        assert len(c.get("/api/v1/schedules").json()["schedules"]) == 2
        assert c.delete(f"/api/v1/schedules/{extra.json()['id']}").status_code == 204
        assert c.post(f"/api/v1/schedules/{sid}/resume").json()["error"] == "schedule_not_paused"
        assert c.post(f"/api/v1/schedules/{sid}/pause").json()["status"] == "paused"
        assert c.post(f"/api/v1/schedules/{sid}/resume").json()["status"] == "active"
        with _user_client(stack, "pete", ["user"]) as pete:
            assert pete.get("/api/v1/schedules").json()["schedules"] == []
            assert pete.delete(f"/api/v1/schedules/{sid}").status_code == 404
            gated = pete.post(
                "/api/v1/schedules",
                json={"skill": "shell-run", "input": {"command": "id"}, "at": _at(1)},
            )
        assert c.delete(f"/api/v1/schedules/{sid}").status_code == 204
        assert c.get(f"/api/v1/schedules/{sid}").status_code == 404
        if gated.status_code == 201:  # the user role may schedule it; the policy still decides
            gid = gated.json()["id"]

            def ended() -> bool:
                row = c.get(f"/api/v1/schedules/{gid}").json()
                return row["status"] == "done" and row["last_outcome"] not in (None, "claimed")

            _wait_for(ended)
            assert c.get(f"/api/v1/schedules/{gid}").json()["last_outcome"] in {
                "pending_approval",
                "policy_denied",
            }
    finally:
        assert stack.stop() == 0


def test_cli_schedule_commands(tmp_path: Path) -> None:
    """`nexflow schedule add|list|pause|resume|rm` drive the routes; bad arguments exit 2."""
    stack = start_stack(tmp_path, "--sandbox", "nsjail", env=FAST)
    try:
        added = stack.cli("schedule", "add", "echo", "--cron", "0 9 * * *", "--tz", "Asia/Tokyo",
                          "--input", '{"message": "hi"}')  # fmt: skip
        assert added.returncode == 0, added.stderr
        sid = added.stdout.split()[1].rstrip(":")
        listed = stack.cli("schedule", "list")
        assert sid in listed.stdout and "Asia/Tokyo" in listed.stdout
        assert "paused" in stack.cli("schedule", "pause", sid).stdout
        assert "active" in stack.cli("schedule", "resume", sid).stdout
        assert stack.cli("schedule", "rm", sid).returncode == 0
        assert stack.cli("schedule", "rm", sid).returncode == 1
        both = stack.cli("schedule", "add", "echo", "--cron", "0 9 * * *", "--at", _at(60))
        assert both.returncode == 2
        bad = stack.cli("schedule", "add", "echo", "--cron", "0 0 30 2 *")
        assert bad.returncode == 2 and "schedule_never_fires" in bad.stderr
    finally:
        assert stack.stop() == 0
