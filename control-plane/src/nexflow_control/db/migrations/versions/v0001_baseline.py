"""baseline: the audit log and the accounts tables

The schema the pre-Alembic code made with `create_all` (audit.models, accounts.models at
that time), written out so that later model edits cannot change what it creates. Each
table is created only if missing: an early database that has the audit log but not yet
the accounts tables gets the rest here.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from nexflow_control.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("audit_events"):
        op.create_table(
            "audit_events",
            sa.Column(
                "seq",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                primary_key=True,
                autoincrement=False,
            ),
            sa.Column("ts", UTCDateTime(), nullable=False),
            sa.Column("action", sa.String(64), nullable=False),
            sa.Column("call_id", sa.String(255)),
            sa.Column("actor", sa.String(255)),
            sa.Column("skill", sa.String(255)),
            sa.Column("decision", sa.String(32)),
            sa.Column("reason_codes", sa.JSON(), nullable=False),
            sa.Column("policy_revision", sa.String(255)),
            sa.Column("payload", sa.JSON(), nullable=False),
            sa.Column("prev_hash", sa.String(64), nullable=False),
            sa.Column("hash", sa.String(64), nullable=False),
        )
        for column in ("call_id", "actor", "skill", "action", "decision"):
            op.create_index(f"ix_audit_events_{column}_seq", "audit_events", [column, "seq"])
        op.create_index("ix_audit_events_ts", "audit_events", ["ts"])
    if _missing("users"):
        op.create_table(
            "users",
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("name", sa.String(64), nullable=False, unique=True),
            sa.Column("roles", sa.JSON(), nullable=False),
            sa.Column("disabled", sa.Boolean(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("updated_at", UTCDateTime(), nullable=False),
        )
    if _missing("api_tokens"):
        op.create_table(
            "api_tokens",
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("hash", sa.String(64), nullable=False),
            sa.Column("scopes", sa.JSON(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("expires_at", UTCDateTime()),
            sa.Column("revoked_at", UTCDateTime()),
            sa.Column("last_used_at", UTCDateTime()),
        )
        op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    if _missing("identities"):
        op.create_table(
            "identities",
            sa.Column("provider", sa.String(32), primary_key=True),
            sa.Column("subject", sa.String(255), primary_key=True),
            sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
        )
        op.create_index("ix_identities_user_id", "identities", ["user_id"])


def downgrade() -> None:
    for table in ("identities", "api_tokens", "users", "audit_events"):
        op.drop_table(table)
