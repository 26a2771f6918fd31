"""The secrets table: sealed values only (see `_key`); the key lives in a file.

Its schema history is in `db/migrations/versions/` (0006_secrets).
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table

from ..db import UTCDateTime

metadata = MetaData()

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(63), primary_key=True),  # ^[a-z][a-z0-9_]{0,62}$
    Column("version", Integer(), nullable=False),  # 1, then +1 per rotation
    Column("nonce", LargeBinary(), nullable=False),  # 12 bytes, fresh per seal
    Column("sealed", LargeBinary(), nullable=False),  # AES-GCM ciphertext + tag
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(255), nullable=False),  # a principal id
)
