"""The viewer's filtered pages walk an index ending in seq (SQLite EXPLAIN QUERY PLAN).

Plans are read on a freshly migrated file without statistics, as a new deployment has:
each single-column filter must SEARCH its `(column, seq)` index, which also yields the
`ORDER BY seq DESC` order (no temporary B-tree, no SCAN of the table), so a page costs
`limit` index steps whatever the table size, and a filter matching few rows stops early.
A reason_code walks the `audit_reason_codes` side table the same way; an action prefix,
resolved to its distinct actions first, walks `(action, seq)` once per action.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nexflow_control.audit import AuditFilter, AuditLog
from nexflow_control.audit.query import _DISTINCT_ACTIONS, page_statement
from sqlalchemy.dialects import sqlite

from tests.pg import SQLITE_ONLY

pytestmark = SQLITE_ONLY

DAY = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def plan_db(db_url: str, db_path: Path) -> Path:
    opened = await AuditLog.open(db_url)  # the schema, by the migrations
    await opened.close()
    return db_path


def plan(
    db_path: Path,
    filters: AuditFilter,
    before_seq: int | None,
    actions: list[str] | None = None,
) -> list[str]:
    compiled = page_statement(filters, 101, before_seq, actions).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    with sqlite3.connect(db_path) as conn:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {compiled}")]


@pytest.mark.parametrize("before_seq", [None, 5000], ids=["first_page", "next_page"])
@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (AuditFilter(actor="alice"), "ix_audit_events_actor_seq"),
        (AuditFilter(skill="file-read"), "ix_audit_events_skill_seq"),
        (AuditFilter(action="call.decided"), "ix_audit_events_action_seq"),
        (AuditFilter(decision="deny"), "ix_audit_events_decision_seq"),
        (AuditFilter(call_id="c-1"), "ix_audit_events_call_id_seq"),
        (AuditFilter(actor="alice", decision="deny"), "_seq"),
        (AuditFilter(skill="file-read", action="call.*"), "ix_audit_events_skill_seq"),
    ],
    ids=["actor", "skill", "action", "decision", "call_id", "actor+decision", "skill+prefix"],
)
async def test_equality_filters_walk_their_seq_index(
    backend: str, plan_db: Path, filters: AuditFilter, index: str, before_seq: int | None
) -> None:
    """An equality filter SEARCHes a (column, seq) index that gives the order: no scan, no sort."""
    steps = plan(plan_db, filters, before_seq, actions=["call.decided", "call.requested"])
    assert len(steps) == 1, steps
    assert steps[0].startswith("SEARCH audit_events USING INDEX ix_audit_events_"), steps
    assert index in steps[0]
    if before_seq is not None:
        assert "seq<?" in steps[0], steps  # the keyset bound is an index range, not a filter


@pytest.mark.parametrize("before_seq", [None, 5000], ids=["first_page", "next_page"])
@pytest.mark.parametrize(
    "filters",
    [
        AuditFilter(reason_code="rate_limited"),
        AuditFilter(reason_code="rate_limited", actor="alice", decision="deny"),
        AuditFilter(reason_code="rate_limited", action="call.*"),
        AuditFilter(reason_code="rate_limited", since=DAY),
    ],
    ids=["alone", "actor+decision", "action_prefix", "since"],
)
async def test_reason_code_walks_the_side_table_newest_first(
    backend: str, plan_db: Path, filters: AuditFilter, before_seq: int | None
) -> None:
    """reason_code walks audit_reason_codes (code, seq) in order and probes events by key."""
    steps = plan(plan_db, filters, before_seq, actions=["call.decided", "call.requested"])
    assert steps[0].startswith("SEARCH audit_reason_codes USING PRIMARY KEY (code=?"), steps
    if before_seq is not None:
        assert "seq<?" in steps[0], steps
    assert steps[1] == "SEARCH audit_events USING INTEGER PRIMARY KEY (rowid=?)", steps
    assert len(steps) == 2, steps  # no temporary B-tree: the side table gives the order


@pytest.mark.parametrize("actions", [["accounts.created"], ["call.decided", "call.requested"]])
async def test_action_prefix_walks_the_action_index(
    backend: str, plan_db: Path, actions: list[str]
) -> None:
    """A resolved action prefix SEARCHes (action, seq), one value at a time, never SCANs."""
    steps = plan(plan_db, AuditFilter(action="call.*"), None, actions=actions)
    assert steps[0].startswith("SEARCH audit_events USING INDEX ix_audit_events_action_seq"), steps
    assert not any(s.startswith("SCAN") for s in steps), steps


async def test_action_prefix_resolves_by_a_skip_scan(backend: str, plan_db: Path) -> None:
    """The distinct actions are read by probing the (action, seq) index, not by a scan."""
    with sqlite3.connect(plan_db) as conn:
        steps = [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {_DISTINCT_ACTIONS.text}")]
    assert not any(s.startswith("SCAN audit_events") for s in steps), steps
    assert any("COVERING INDEX ix_audit_events_action_seq (action>?)" in s for s in steps), steps


async def test_time_range_reads_seqs_from_the_ts_index_first(backend: str, plan_db: Path) -> None:
    """A time range picks the page's seqs from the ts index alone, then reads rows by key."""
    steps = plan(plan_db, AuditFilter(since=DAY, until=DAY.replace(day=2)), None)
    assert steps[0] == "SEARCH audit_events USING INTEGER PRIMARY KEY (rowid=?)", steps
    assert any("COVERING INDEX ix_audit_events_ts (ts>? AND ts<?)" in s for s in steps), steps
