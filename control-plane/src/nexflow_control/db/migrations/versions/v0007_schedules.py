"""schedules: cron and one-shot calls, and the due times claimed

The tables schedules.models defines, written out. Created only if missing.

Revision ID: 0007_schedules
Revises: 0006_secrets
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from nexflow_control.db import UTCDateTime

revision = "0007_schedules"
down_revision = "0006_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("schedules"):
        return  # a database adopted at the baseline re-runs every revision
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.JSON(), nullable=False),
        sa.Column("skill", sa.String(64), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("cron", sa.String(128)),
        sa.Column("run_at", UTCDateTime()),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(160), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("next_run", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("last_due", UTCDateTime()),
        sa.Column("last_call_id", sa.String(32)),
        sa.Column("last_outcome", sa.String(32)),
    )
    op.create_index("ix_schedules_due", "schedules", ["status", "next_run"])
    op.create_table(
        "schedule_runs",
        sa.Column("schedule_id", sa.String(32), primary_key=True),
        sa.Column("due_at", UTCDateTime(), primary_key=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedule_runs")
    op.drop_index("ix_schedules_due", table_name="schedules")
    op.drop_table("schedules")
