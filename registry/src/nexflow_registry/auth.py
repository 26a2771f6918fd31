"""Bearer tokens: the bootstrap admin's, and publish tokens scoped to a publisher (and
optionally to one package). Only SHA-256 hashes of tokens are stored; tokens never reach a log."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from .db import Database, tokens
from .errors import Forbidden, Unauthorized

ADMIN_TOKEN_ENV = "NEXFLOW_REGISTRY_ADMIN_TOKEN"  # noqa: S105 (a variable name)


@dataclass(frozen=True)
class Principal:
    admin: bool
    publisher: str | None
    package: str | None

    def may_publish(self, publisher: str, package: str) -> None:
        """`Forbidden` unless this token may publish or yank `package` as `publisher`."""
        if self.admin:
            return
        if self.publisher != publisher:
            raise Forbidden(f"this token cannot act for publisher {publisher!r}")
        if self.package is not None and self.package != package:
            raise Forbidden(f"this token is scoped to package {self.package!r}")

    def require_admin(self) -> None:
        if not self.admin:
            raise Forbidden("an admin token is required")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "nxr_" + secrets.token_urlsafe(32)


async def store_token(
    conn: AsyncConnection, token: str, *, publisher: str | None, package: str | None, admin: bool
) -> None:
    await conn.execute(
        tokens.insert().values(
            token_hash=_hash(token),
            publisher=publisher,
            package=package,
            admin=admin,
            created_at=now(),
        )
    )


async def bootstrap_admin(db: Database, home: Path) -> None:
    """Take the admin token from the environment, or the home's `admin.token` (made if missing)."""
    token = os.environ.get(ADMIN_TOKEN_ENV, "").strip()
    path = home / "admin.token"
    if not token:
        if path.exists():
            token = path.read_text().strip()
        else:
            token = new_token()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(token + "\n")
    async with db.writing() as conn:
        found = await conn.execute(
            select(tokens.c.admin).where(tokens.c.token_hash == _hash(token))
        )
        if found.first() is None:
            await store_token(conn, token, publisher=None, package=None, admin=True)


async def authenticate(db: Database, authorization: str | None) -> Principal:
    """The principal of a `Bearer` header; `Unauthorized` if missing or unknown."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a Bearer token is required")
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(tokens.c.admin, tokens.c.publisher, tokens.c.package).where(
                    tokens.c.token_hash == _hash(token.strip())
                )
            )
        ).first()
    if row is None:
        raise Unauthorized("unknown token")
    return Principal(bool(row.admin), row.publisher, row.package)
