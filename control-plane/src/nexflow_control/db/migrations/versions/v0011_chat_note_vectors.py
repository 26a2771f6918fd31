"""chat note vectors: a note's embedding (when the gateway has an embedding model)

Revision ID: 0011_chat_note_vectors
Revises: 0010_chat_outbox
Create Date: 2026-12-07

Two nullable columns on `chat_notes`: `embedding` (the vector, a JSON list of floats, so the
same on SQLite and PostgreSQL; the gateway ranks a user's few hundred notes by cosine in
Python) and `embedding_model` (the litellm model that made it: a vector is compared only with
one from the same model). A note saved while no model was configured, or while the model
failed, has neither and is found by full-text search alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_chat_note_vectors"
down_revision = "0010_chat_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("chat_notes")}
    if "embedding" not in have:  # an adopted database re-runs
        op.add_column("chat_notes", sa.Column("embedding", sa.JSON(), nullable=True))
    if "embedding_model" not in have:
        op.add_column("chat_notes", sa.Column("embedding_model", sa.String(255), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of the table would drop
    # the FTS5 triggers revision 0009_chat put on it.
    op.drop_column("chat_notes", "embedding_model")
    op.drop_column("chat_notes", "embedding")
