"""Reading account rows into records: the SELECTs the store shares."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .models import api_tokens, identities, users
from .records import Identity, Token, User


def token_select() -> Select[Any]:
    """Tokens with their user's name as `user_name`."""
    return select(api_tokens, users.c.name.label("user_name")).join(
        users, users.c.id == api_tokens.c.user_id
    )


def to_token(row: Row[Any]) -> Token:
    m = row._mapping
    return Token(
        id=m["id"],
        user_id=m["user_id"],
        user=m["user_name"],
        name=m["name"],
        scopes=tuple(m["scopes"]),
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
        last_used_at=m["last_used_at"],
    )


def to_user(row: Row[Any], links: Iterable[Identity] = ()) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        name=m["name"],
        roles=tuple(m["roles"]),
        disabled=bool(m["disabled"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        identities=tuple(links),
    )


async def user_row(conn: AsyncConnection, name: str) -> Row[Any] | None:
    return (await conn.execute(select(users).where(users.c.name == name))).first()


async def load_users(conn: AsyncConnection, name: str | None = None) -> list[User]:
    """Users (all, or the one named) with their identity links, by name."""
    stmt = select(users).order_by(users.c.name)
    links = select(identities).order_by(identities.c.provider, identities.c.subject)
    if name is not None:
        stmt = stmt.where(users.c.name == name)
        links = links.join(users, users.c.id == identities.c.user_id).where(users.c.name == name)
    by_user: dict[str, list[Identity]] = defaultdict(list)
    for link in await conn.execute(links):
        by_user[link.user_id].append(Identity(link.provider, link.subject, link.created_at))
    return [to_user(row, by_user[row.id]) for row in await conn.execute(stmt)]
