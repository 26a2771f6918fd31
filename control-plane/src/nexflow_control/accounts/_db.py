"""How the account store reaches the database: reads, audited changes, and error mapping.

Lower errors never leave this package as themselves: a failed read or write is
`AccountsUnavailable` (503) naming only the error's type (SQL parameters may hold a
token hash), a uniqueness violation `Conflict` (409).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..audit import AuditLog, AuditTransaction
from ..db import error_type as why
from ..errors import AccountsUnavailable, Conflict


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    try:
        async with engine.connect() as conn:
            yield conn
    except (OSError, SQLAlchemyError) as exc:
        raise AccountsUnavailable(f"the account store cannot be read ({why(exc)})") from exc


@asynccontextmanager
async def changing(audit: AuditLog) -> AsyncIterator[AuditTransaction]:
    """One audited change: the caller's writes and its `tx.record`ed events commit together
    (this process's writers go one at a time: `Database.write_turn`)."""
    try:
        async with audit.transaction() as tx:
            yield tx
    except IntegrityError as exc:  # checks run under the chain lock; this is a backstop
        raise Conflict("the change conflicts with a stored record") from exc
    except (OSError, SQLAlchemyError) as exc:
        raise AccountsUnavailable(f"the account store cannot be written ({why(exc)})") from exc
