"""The approvals table (SQLAlchemy Core, portable between SQLite and PostgreSQL).

It lives in the control plane's one database beside the audit log's tables, so a state
change and its `approval.*` audit event commit together. Its schema history is in
`db/migrations/versions/` (0002): a change here needs a new revision there.

Rows are never deleted: an approval's end state (denied, expired, ...) is its record.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, MetaData, String, Table, Text

from ..db import UTCDateTime

metadata = MetaData()

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(32), primary_key=True),  # a_<16 hex>, never reused
    Column("call_id", String(32), nullable=False, unique=True),
    # pending → granted → ran | invalidated | interrupted; pending → denied | expired
    Column("status", String(16), nullable=False),
    # What binds the call: who asked (policy's view + account ids), which skill version,
    # which input (its sha256 and the validated JSON itself, to run it later), what the
    # decision would grant, under which policy revision, and the facts it was decided on.
    Column("principal", JSON(), nullable=False),  # {id, roles, channel, user_id, token_id}
    Column("skill", String(64), nullable=False),
    Column("skill_digest", String(80), nullable=False),
    Column("input_sha256", String(64), nullable=False),
    Column("input", Text(), nullable=False),  # at most limits.max_input_bytes
    Column("grants", JSON(), nullable=False),  # {filesystem, network, limits}
    Column("policy_revision", String(80), nullable=False),
    Column("reasons", JSON(), nullable=False),  # [{code, message}]
    Column("context", JSON(), nullable=False),  # {rate, skill_runs} at request time
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime()),
    Column("decided_by", String(64)),  # a principal id, or "system"
    Column("comment", Text()),
    Index("ix_approvals_status", "status"),
)
