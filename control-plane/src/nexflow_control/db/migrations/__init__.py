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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._run import BASELINE, config, current, current_at, head, target_metadata, upgrade

__all__ = ["BASELINE", "config", "current", "current_at", "head", "target_metadata", "upgrade"]


def __getattr__(name: str) -> Any:
    """Alembic is imported on first use: a process that never migrates (the CLI's HTTP
    commands, `nexflow --help`) does not pay its import."""
    if name in __all__:
        from . import _run

        return getattr(_run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
