"""chat outbox: results of finished calls owed to a chat, until the gateway acks them

Revision ID: 0010_chat_outbox
Revises: 0009_chat
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from nexflow_control.db import UTCDateTime

revision = "0010_chat_outbox"
down_revision = "0009_chat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("chat_outbox"):  # an adopted database re-runs
        return
    op.create_table(
        "chat_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("call_id", sa.String(32), nullable=False, unique=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("chat", sa.String(160), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("acked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_chat_outbox_due", "chat_outbox", ["channel", "acked_at", "id"])


def downgrade() -> None:
    op.drop_table("chat_outbox")
