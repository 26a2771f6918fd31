"""audit reason codes: a (code, seq) side table that indexes reason_codes

Derived data (see audit.models): created only if missing (a database made by
`create_all` from the current models already has it), then filled from the records
already stored, in one INSERT ... SELECT over the JSON arrays; rows already present are
kept (the backfill is idempotent).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BACKFILL = {
    "sqlite": """
        INSERT OR IGNORE INTO audit_reason_codes (code, seq)
        SELECT j.value, e.seq FROM audit_events AS e, json_each(e.reason_codes) AS j
        WHERE e.reason_codes <> '[]' AND j.type = 'text'
    """,
    "postgresql": """
        INSERT INTO audit_reason_codes (code, seq)
        SELECT DISTINCT j.code, e.seq
        FROM audit_events AS e
        CROSS JOIN LATERAL json_array_elements_text(e.reason_codes::json) AS j(code)
        ON CONFLICT DO NOTHING
    """,
}


def upgrade() -> None:
    bind = op.get_bind()
    if not sa.inspect(bind).has_table("audit_reason_codes"):
        op.create_table(
            "audit_reason_codes",
            sa.Column("code", sa.String(128), primary_key=True),
            sa.Column(
                "seq",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                primary_key=True,
                autoincrement=False,
            ),
            sqlite_with_rowid=False,
        )
    op.execute(sa.text(_BACKFILL[bind.dialect.name]))


def downgrade() -> None:
    op.drop_table("audit_reason_codes")
