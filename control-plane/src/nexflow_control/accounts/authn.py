"""Authenticating an API token: parse the id, look it up, compare hashes, check its state.

The order of checks is the order of the answers: a token that does not hash to the
stored value is `unauthenticated` whatever its state (nothing is told to someone who
only knows an id), then `token_revoked`, `token_expired`, `user_disabled`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import WRITE_TX
from ..db import error_type as why
from ..errors import Unauthenticated
from ._db import reading
from .models import api_tokens, users
from .records import Credential, User
from .rows import to_token, token_select
from .tokens import hash_matches, parse_token_id

log = structlog.get_logger("nexflow.accounts")

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""`last_used_at` is written at most this often per token (no write per request)."""


async def authenticate(
    engine: AsyncEngine, turn: asyncio.Lock, token: str, now: datetime
) -> Credential:
    """The user and token a presented API token stands for, or `Unauthenticated`.

    `turn` is the store's write lock, held while `last_used_at` is written.
    """
    token_id = parse_token_id(token)
    if token_id is None:
        raise Unauthenticated("invalid bearer token")
    stmt = token_select().add_columns(
        users.c.roles.label("user_roles"),
        users.c.disabled.label("user_disabled"),
        users.c.created_at.label("user_created_at"),
        users.c.updated_at.label("user_updated_at"),
    )
    async with reading(engine) as conn:
        row = (await conn.execute(stmt.where(api_tokens.c.id == token_id))).first()
    if row is None or not hash_matches(token, row._mapping["hash"]):
        raise Unauthenticated("invalid bearer token")
    found = to_token(row)
    if found.status(now) == "revoked":
        raise Unauthenticated(f"token {found.prefix} was revoked", code="token_revoked")
    if found.status(now) == "expired":
        raise Unauthenticated(f"token {found.prefix} has expired", code="token_expired")
    if row.user_disabled:
        raise Unauthenticated(f"user {found.user!r} is disabled", code="user_disabled")
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
        async with turn:
            await _touch(engine, found.id, now)
    user = User(
        found.user_id,
        found.user,
        tuple(row.user_roles),
        False,
        row.user_created_at,
        row.user_updated_at,
    )
    return Credential(user, found)


async def _touch(engine: AsyncEngine, token_id: str, now: datetime) -> None:
    """Record a use; guarded so concurrent requests and processes write it once a minute."""
    cutoff = now - LAST_USED_RESOLUTION
    try:
        async with engine.connect() as conn:
            await conn.execution_options(**WRITE_TX)
            async with conn.begin():
                await conn.execute(
                    update(api_tokens)
                    .where(
                        api_tokens.c.id == token_id,
                        or_(
                            api_tokens.c.last_used_at.is_(None),
                            api_tokens.c.last_used_at <= cutoff,
                        ),
                    )
                    .values(last_used_at=now)
                )
    except (OSError, SQLAlchemyError) as exc:  # bookkeeping: never fails a request
        log.warning("accounts.last_used_write_failed", token_id=token_id, error=why(exc))
