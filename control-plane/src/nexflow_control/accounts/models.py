"""The account tables (SQLAlchemy Core, portable between SQLite and PostgreSQL).

They live in the control plane's one database beside the audit log's tables (so a
change and its audit events commit together) and have their own `MetaData`. The schema
is made by the Alembic revisions in `nexflow_control.db.migrations` (run by
`Database.open`): a change here needs a new revision there, and a test compares the
migrated schema with this metadata.

Users are never deleted (they are disabled), so audit records always name someone
who existed; tokens are revoked, not deleted, for the same reason.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, MetaData, String, Table

from ..db import UTCDateTime

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),  # u_<16 hex>, never reused
    Column("name", String(64), nullable=False, unique=True),  # the principal id
    Column("roles", JSON(), nullable=False),  # list of role names, as policy data knows them
    Column("disabled", Boolean(), nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),  # the public id inside nxf_<id>_<secret>
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("name", String(64), nullable=False),
    # sha256 of the whole token (hex); the secret itself is never stored anywhere.
    Column("hash", String(64), nullable=False),
    Column("scopes", JSON(), nullable=False),  # sorted list of scope strings
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
    Column("last_used_at", UTCDateTime()),  # written at most once a minute per token
    Index("ix_api_tokens_user_id", "user_id"),
)

identities = Table(
    "identities",
    metadata,
    # (provider, subject) is the primary key: one chat identity maps to one user.
    Column("provider", String(32), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_identities_user_id", "user_id"),
)

user_passwords = Table(
    "user_passwords",
    metadata,
    # One web-login password per user (API tokens need none); scrypt, see `passwords`.
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("hash", String(255), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # sha256 of the cookie's secret (hex): a database dump holds no usable session.
    Column("id", String(64), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("csrf", String(64), nullable=False),  # the token unsafe requests must echo
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),  # absolute end
    Column("last_seen_at", UTCDateTime(), nullable=False),  # idle timeout counts from here
    Column("revoked_at", UTCDateTime()),
    Index("ix_web_sessions_user_id", "user_id"),
)
