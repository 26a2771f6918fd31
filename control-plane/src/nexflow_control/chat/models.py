"""The chat tables (SQLAlchemy Core, portable between SQLite and PostgreSQL).

`pairings`: a code an unknown chat sender was given, waiting for an admin to confirm it
(which links the identity to a user) or reject it. Rows are kept after they end.

`chat_nonces`: one-time tokens the control plane mints for an approval shown in one chat;
a button press must carry one. Only the nonce's sha256 is stored. Schema history:
`db/migrations/versions/v0006_chat_identity.py`.

`chat_outbox`: a finished call's result owed to a chat (see `outbox`); the gateway reads
the undelivered rows of its channel and acks each once sent (revision 0010_chat_outbox).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from ..db import UTCDateTime

metadata = MetaData()

pairings = Table(
    "pairings",
    metadata,
    Column("code", String(16), primary_key=True),  # 8 characters of an unambiguous alphabet
    Column("identity", String(300), nullable=False),  # provider:subject
    Column("channel", String(200), nullable=False),  # where the code was asked for
    # pending → confirmed | rejected | expired (expired is derived from expires_at)
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime()),
    Column("decided_by", String(64)),
    Column("user_name", String(64)),  # whom a confirmed code linked the identity to
    Index("ix_pairings_identity", "identity"),
    Index("ix_pairings_status", "status"),
)

chat_nonces = Table(
    "chat_nonces",
    metadata,
    Column("hash", String(64), primary_key=True),  # sha256 of the nonce (hex)
    Column("approval_id", String(32), nullable=False),
    Column("channel", String(200), nullable=False),  # the chat the buttons were sent to
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    Column("used_by", String(300)),  # the identity that pressed
    Index("ix_chat_nonces_approval_id", "approval_id"),
)

chat_outbox = Table(
    "chat_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("call_id", String(32), nullable=False, unique=True),  # one delivery per call
    Column("channel", String(32), nullable=False),  # telegram | discord
    Column("chat", String(160), nullable=False),  # the chat id (discord: a user id = a DM)
    Column("text", Text(), nullable=False),  # the message, already redacted and bounded
    Column("created_at", UTCDateTime(), nullable=False),
    Column("acked_at", UTCDateTime()),
    Index("ix_chat_outbox_due", "channel", "acked_at", "id"),
)
