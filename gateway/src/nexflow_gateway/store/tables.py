"""The chat tables, as the gateway reads and writes them (created by the control plane's
revisions `0009_chat` and `0011_chat_note_vectors`; the gateway never migrates). Datetimes
are UTC: SQLite keeps them as naive text, PostgreSQL as `timestamptz` (`UTC` below makes
both read back aware)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()
_ID = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (stored the way the control plane stores them)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _usage() -> list[Column[int] | Column[float]]:
    return [
        Column("llm_calls", Integer(), nullable=False, server_default="0"),
        Column("prompt_tokens", Integer(), nullable=False, server_default="0"),
        Column("completion_tokens", Integer(), nullable=False, server_default="0"),
        Column("total_tokens", Integer(), nullable=False, server_default="0"),
        Column("cost_usd", Float(), nullable=False, server_default="0"),
    ]


sessions = Table(
    "chat_sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("chat_id", String(255), nullable=True),
    Column("user_id", String(255), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_activity", UtcDateTime(), nullable=False),
    Column("turns", Integer(), nullable=False, server_default="0"),
    *_usage(),
    Index("ix_chat_sessions_activity", "last_activity"),
    Index("ix_chat_sessions_user", "user_id", "last_activity"),
)

turns = Table(
    "chat_turns",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column(
        "session_id", String(32), ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False
    ),
    Column("at", UtcDateTime(), nullable=False),
    Column("model", String(255), nullable=True),
    Column("stop_reason", String(32), nullable=False),
    *_usage(),
    Column("pending", JSON(), nullable=False),
    # The messages as the model saw them (tool calls, tool results): the next turns' context.
    Column("transcript", JSON(), nullable=False),
    Index("ix_chat_turns_session", "session_id", "id"),
)

messages = Table(
    "chat_messages",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("turn_id", _ID, ForeignKey("chat_turns.id", ondelete="CASCADE"), nullable=False),
    Column("session_id", String(32), nullable=False),
    Column("role", String(16), nullable=False),  # "user" | "assistant"
    Column("content", Text(), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_chat_messages_turn", "turn_id"),
)

tool_steps = Table(
    "chat_tool_steps",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("turn_id", _ID, ForeignKey("chat_turns.id", ondelete="CASCADE"), nullable=False),
    Column("tool_call_id", String(128), nullable=False),
    Column("tool", String(128), nullable=False),
    Column("skill", String(255), nullable=True),
    Column("call_id", String(64), nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("error", String(100), nullable=True),
    Column("message", Text(), nullable=True),
    Column("output", JSON(), nullable=True),
    Column("duration_ms", Float(), nullable=False),
    Index("ix_chat_tool_steps_turn", "turn_id"),
)

notes = Table(
    "chat_notes",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("user_id", String(255), nullable=False),
    Column("text", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Revision 0011_chat_note_vectors: the note's vector and the model that made it (both
    # null when no embedding model was configured or it failed when the note was saved).
    Column("embedding", JSON(), nullable=True),
    Column("embedding_model", String(255), nullable=True),
    Index("ix_chat_notes_user", "user_id", "id"),
)
