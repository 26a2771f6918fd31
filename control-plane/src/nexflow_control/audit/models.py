"""The `audit_events` table (SQLAlchemy Core, portable between SQLite and PostgreSQL).

`seq` is given by the writer as previous + 1 inside the append transaction, never by
the database, so a removed row leaves a visible gap. Each filter the log viewer offers
has an index ending in `seq`, so keyset pages (`seq < :before ORDER BY seq DESC`) stay
index-only walks.

`audit_reason_codes` is derived data, an index over `reason_codes` that a JSON column
cannot have: one `(code, seq)` row per distinct code of each record, written in the
same transaction as the records (`append`, the writers). It is not hashed and
`verify` never reads it; the chain alone is the evidence.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table

from ..db import UTCDateTime

metadata = MetaData()

audit_events = Table(
    "audit_events",
    metadata,
    # INTEGER PRIMARY KEY on SQLite is the rowid itself (no second index); no
    # AUTOINCREMENT/SERIAL anywhere: the writer assigns seq under the chain lock.
    Column(
        "seq",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("ts", UTCDateTime(), nullable=False),
    Column("action", String(64), nullable=False),
    Column("call_id", String(255)),
    Column("actor", String(255)),
    Column("skill", String(255)),
    Column("decision", String(32)),
    Column("reason_codes", JSON(), nullable=False),
    Column("policy_revision", String(255)),
    Column("payload", JSON(), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_call_id_seq", "call_id", "seq"),
    Index("ix_audit_events_actor_seq", "actor", "seq"),
    Index("ix_audit_events_skill_seq", "skill", "seq"),
    Index("ix_audit_events_action_seq", "action", "seq"),
    Index("ix_audit_events_decision_seq", "decision", "seq"),
    Index("ix_audit_events_ts", "ts"),
)

audit_reason_codes = Table(
    "audit_reason_codes",
    metadata,
    # (code, seq) is the whole row: a reason_code page walks it newest first and probes
    # audit_events by primary key. Without rowid on SQLite, so the key is the table.
    Column("code", String(128), primary_key=True),  # records.MAX_REASON_CODE_LEN
    Column(
        "seq",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sqlite_with_rowid=False,
)
