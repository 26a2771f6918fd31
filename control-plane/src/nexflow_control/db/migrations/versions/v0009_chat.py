"""chat: the gateway's sessions, turns, messages, tool steps and notes, with full-text search

The gateway (`nexflow_gateway.store.tables`) owns these tables and reads and writes them
through the same database URL; the control plane only creates them, as it does every
table. Search: on SQLite two FTS5 tables kept in step by triggers (external content, so
the text is stored once); on PostgreSQL a GIN index on `to_tsvector('simple', ...)`.

Revision ID: 0009_chat
Revises: 0008_chat_identity
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from nexflow_control.db import UTCDateTime

revision = "0009_chat"
down_revision = "0008_chat_identity"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_FTS = (("chat_messages", "content"), ("chat_notes", "text"))


def _usage() -> list[sa.Column[int] | sa.Column[float]]:
    return [
        sa.Column("llm_calls", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("total_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cost_usd", sa.Float(), nullable=False, server_default="0"),
    ]


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("chat_sessions"):  # an adopted database re-runs
        return
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("chat_id", sa.String(255), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_activity", UTCDateTime(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False, server_default="0"),
        *_usage(),
    )
    op.create_index("ix_chat_sessions_activity", "chat_sessions", ["last_activity"])
    op.create_index("ix_chat_sessions_user", "chat_sessions", ["user_id", "last_activity"])
    op.create_table(
        "chat_turns",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "session_id",
            sa.String(32),
            sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("model", sa.String(255), nullable=True),
        sa.Column("stop_reason", sa.String(32), nullable=False),
        *_usage(),
        sa.Column("pending", sa.JSON(), nullable=False),
        sa.Column("transcript", sa.JSON(), nullable=False),
    )
    op.create_index("ix_chat_turns_session", "chat_turns", ["session_id", "id"])
    op.create_table(
        "chat_messages",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "turn_id", _ID, sa.ForeignKey("chat_turns.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_chat_messages_turn", "chat_messages", ["turn_id"])
    op.create_table(
        "chat_tool_steps",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "turn_id", _ID, sa.ForeignKey("chat_turns.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("tool_call_id", sa.String(128), nullable=False),
        sa.Column("tool", sa.String(128), nullable=False),
        sa.Column("skill", sa.String(255), nullable=True),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error", sa.String(100), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
    )
    op.create_index("ix_chat_tool_steps_turn", "chat_tool_steps", ["turn_id"])
    op.create_table(
        "chat_notes",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_chat_notes_user", "chat_notes", ["user_id", "id"])
    if op.get_bind().dialect.name == "sqlite":
        for table, column in _FTS:
            _sqlite_fts(table, column)
    else:
        for table, column in _FTS:
            op.execute(
                f"CREATE INDEX ix_{table}_fts ON {table}"
                f" USING GIN (to_tsvector('simple', {column}))"
            )


def _sqlite_fts(table: str, column: str) -> None:
    """An FTS5 index of `table.column` (external content), kept by three triggers.
    (The names are this module's constants, never input.)"""
    fts = f"{table}_fts"
    op.execute(
        f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', content_rowid='id')"
    )
    new = f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});"  # noqa: S608
    old = f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column});"  # noqa: S608
    op.execute(f"CREATE TRIGGER {table}_ai AFTER INSERT ON {table} BEGIN {new} END")
    op.execute(f"CREATE TRIGGER {table}_ad AFTER DELETE ON {table} BEGIN {old} END")
    op.execute(f"CREATE TRIGGER {table}_au AFTER UPDATE ON {table} BEGIN {old} {new} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, _ in _FTS:
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
    for table in ("chat_notes", "chat_tool_steps", "chat_messages", "chat_turns"):
        op.drop_table(table)
    op.drop_table("chat_sessions")
