"""chat identity: pairing codes and one-time nonces for approval buttons in a chat

Each table is created only if missing (a database made by `create_all` from the current
models, then adopted as the baseline, already has them).

Revision ID: 0008_chat_identity
Revises: 0007_schedules
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from nexflow_control.db import UTCDateTime

revision = "0008_chat_identity"
down_revision = "0007_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "pairings" not in existing:
        _create_pairings()
    if "chat_nonces" not in existing:
        _create_nonces()


def _create_pairings() -> None:
    op.create_table(
        "pairings",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("identity", sa.String(300), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime()),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("user_name", sa.String(64)),
    )
    op.create_index("ix_pairings_identity", "pairings", ["identity"])
    op.create_index("ix_pairings_status", "pairings", ["status"])


def _create_nonces() -> None:
    op.create_table(
        "chat_nonces",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("approval_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime()),
        sa.Column("used_by", sa.String(300)),
    )
    op.create_index("ix_chat_nonces_approval_id", "chat_nonces", ["approval_id"])


def downgrade() -> None:
    op.drop_table("chat_nonces")
    op.drop_table("pairings")
