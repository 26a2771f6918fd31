"""The `throttle_counts` table: how many times each (kind, key) was seen in each second.

One row per (kind, key, second) that saw anything; a count goes up in place (an upsert),
so a busy key adds one row a second, not one a hit. Rows older than the longest window
asked of their kind are deleted (`SharedCounts` prunes once a minute). The schema is
made by revision 0005 in `nexflow_control.db.migrations`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table

metadata = MetaData()

MAX_KEY_LEN = 255

throttle_counts = Table(
    "throttle_counts",
    metadata,
    Column("kind", String(32), primary_key=True),  # "rate", "login.name", ...
    Column("key", String(MAX_KEY_LEN), primary_key=True),  # a principal, a name, an address
    # Unix second (the control plane's clock), the start of this one-second bucket.
    Column("bucket", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("n", Integer(), nullable=False),
    sqlite_with_rowid=False,
)
