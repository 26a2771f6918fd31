"""sealed values by name: AES-GCM, the key a file in the home (never here)

The table secrets.models defines, written out. Created only if missing.

Revision ID: 0006_secrets
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from nexflow_control.db import UTCDateTime

revision = "0006_secrets"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("secrets"):
        return  # a database adopted at the baseline re-runs every revision
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("secrets")
