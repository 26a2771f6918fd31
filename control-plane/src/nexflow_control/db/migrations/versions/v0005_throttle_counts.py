"""throttle counts: per-second hit counts shared by every control plane on the database

The call rates, the failed-login throttle and the refused-access throttle were counted
in each process; they now live here (see `nexflow_control.throttle`). Created only if
missing; the last hour of `call.decided` events is counted in, as the rate counts were
restored from them at start before, so an upgrade does not reset anybody's budget.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from nexflow_control.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_HOUR = timedelta(hours=1)


def upgrade() -> None:
    bind = op.get_bind()
    if sa.inspect(bind).has_table("throttle_counts"):
        return
    table = op.create_table(
        "throttle_counts",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column(
            "bucket",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("n", sa.Integer(), nullable=False),
        sqlite_with_rowid=False,
    )
    decided = (
        sa.text(
            "SELECT actor, ts FROM audit_events"
            " WHERE action = 'call.decided' AND actor IS NOT NULL AND ts >= :since"
        )
        .bindparams(sa.bindparam("since", type_=UTCDateTime()))
        .columns(actor=sa.String(), ts=UTCDateTime())
    )
    since = datetime.now(UTC) - _HOUR
    per_second = Counter(
        (str(actor), int(ts.timestamp())) for actor, ts in bind.execute(decided, {"since": since})
    )
    rows = [
        {"kind": "rate", "key": actor[:255], "bucket": second, "n": n}
        for (actor, second), n in per_second.items()
    ]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("throttle_counts")
