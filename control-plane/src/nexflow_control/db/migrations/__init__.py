"""The database schema's history (Alembic), shipped inside the package.

`upgrade(conn)` brings a database to the newest revision inside the caller's write
transaction (`Database.open` calls it under the write lock, so two processes starting at
once never both migrate). A database made by the earlier `create_all` code (tables
present, no `alembic_version`) is adopted: stamped at the baseline, whose schema it has.

A new table is one new file in `versions/` plus its
`MetaData` in `target_metadata()`; `alembic revision --autogenerate` run with
`-c control-plane/src/nexflow_control/db/migrations/alembic.ini` writes the first draft.
"""

from __future__ import annotations

from ._run import BASELINE, config, current, current_at, head, target_metadata, upgrade

__all__ = ["BASELINE", "config", "current", "current_at", "head", "target_metadata", "upgrade"]
