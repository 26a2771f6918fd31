"""`SecretStore`: named secrets, sealed at rest, each change committed with its audit event.

Built with `SecretStore.open(db, audit, key_file)` (the shared `Database`; the table is
migrated by `Database.open`). Values go in through `create` / `rotate` and come out only
through `reveal`, for one call's granted names; `listing` shows names, versions and dates.

Errors: `InvalidInput` (`invalid_secret_name`, `invalid_secret_value`), `Conflict`
(`secret_exists`), `NotFound` (`secret_not_found`), `SecretsUnavailable` (503: the table
or the key file cannot be used, or a value does not open with the key).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..audit import AuditEvent, AuditLog, AuditTransaction
from ..db import Database
from ..db import error_type as _why
from ..errors import Conflict, InvalidInput, NotFound, Unavailable
from ..skills import SECRET_NAME
from ._key import KeyFileError, SealBroken, SecretBox, load_or_create_key
from ._raw import Row, raw_reads
from .models import secrets

MAX_VALUE_BYTES = 64 * 1024
"""The executor's limit for one value."""


class SecretsUnavailable(Unavailable):
    code = "secrets_unavailable"


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """What anyone may know of a secret: never its value."""

    name: str
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class Revealed:
    """One secret's value as handed to one call."""

    name: str
    version: int
    value: str


def check_name(name: str) -> str:
    if not SECRET_NAME.match(name):
        raise InvalidInput(
            f"{name[:70]!r} is not a secret name (^[a-z][a-z0-9_]{{0,62}}$)",
            code="invalid_secret_name",
        )
    return name


def check_value(value: str) -> str:
    if not value or "\x00" in value or len(value.encode()) > MAX_VALUE_BYTES:
        raise InvalidInput(
            f"a secret value is 1 to {MAX_VALUE_BYTES} bytes without NUL characters",
            code="invalid_secret_value",
        )
    return value


def _now() -> datetime:
    return datetime.now(UTC)


class SecretStore:
    """See the module docstring."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        box: SecretBox,
        clock: Callable[[], datetime] = _now,
        *,
        raw_driver: bool = True,
    ) -> None:
        self.db, self.audit, self._box, self._now = db, audit, box, clock
        # `reveal` (once per call with a secret) on the raw driver: see `_raw`. Without
        # `raw_driver` (the benchmark's before), or for an in-memory database, the engine.
        self._raw = raw_reads(db) if raw_driver else None

    @classmethod
    def open(
        cls, db: Database, audit: AuditLog, key_file: Path, *, raw_driver: bool = True
    ) -> SecretStore:
        try:
            key = load_or_create_key(key_file)
        except KeyFileError as exc:
            raise SecretsUnavailable(str(exc)) from exc
        return cls(db, audit, SecretBox(key), raw_driver=raw_driver)

    async def close(self) -> None:
        """Close the raw reader's connection (the database is the caller's)."""
        if self._raw is not None:
            raw, self._raw = self._raw, None
            await raw.close()

    async def listing(self) -> list[SecretInfo]:
        query = select(
            secrets.c.name,
            secrets.c.version,
            secrets.c.created_at,
            secrets.c.updated_at,
            secrets.c.updated_by,
        ).order_by(secrets.c.name)
        try:
            async with self.db.engine.connect() as conn:
                return [SecretInfo(*row) for row in await conn.execute(query)]
        except (OSError, SQLAlchemyError) as exc:
            raise SecretsUnavailable(f"the secrets table cannot be read ({_why(exc)})") from exc

    async def create(self, name: str, value: str, actor: str) -> SecretInfo:
        """A new secret at version 1; `secret_exists` if the name is taken."""
        check_name(name)
        check_value(value)
        now = self._now()
        nonce, sealed = self._box.seal(name, 1, value)
        async with self._changing() as tx:
            found = await tx.conn.execute(select(secrets.c.name).where(secrets.c.name == name))
            if found.first() is not None:
                raise Conflict(f"secret {name!r} exists; rotate it", code="secret_exists")
            await tx.conn.execute(
                insert(secrets).values(
                    name=name,
                    version=1,
                    nonce=nonce,
                    sealed=sealed,
                    created_at=now,
                    updated_at=now,
                    updated_by=actor,
                )
            )
            tx.record(_event("secret.created", actor, name, 1))
        return SecretInfo(name, 1, now, now, actor)

    async def rotate(self, name: str, value: str, actor: str) -> SecretInfo:
        """A new value for an existing secret, one version up."""
        check_name(name)
        check_value(value)
        now = self._now()
        async with self._changing() as tx:
            row = (
                await tx.conn.execute(
                    select(secrets.c.version, secrets.c.created_at).where(secrets.c.name == name)
                )
            ).first()
            if row is None:
                raise _missing(name)
            version = int(row.version) + 1
            nonce, sealed = self._box.seal(name, version, value)
            await tx.conn.execute(
                update(secrets)
                .where(secrets.c.name == name)
                .values(
                    version=version, nonce=nonce, sealed=sealed, updated_at=now, updated_by=actor
                )
            )
            tx.record(_event("secret.rotated", actor, name, version))
        return SecretInfo(name, version, row.created_at, now, actor)

    async def delete(self, name: str, actor: str) -> None:
        check_name(name)
        async with self._changing() as tx:
            gone = await tx.conn.execute(delete(secrets).where(secrets.c.name == name))
            if gone.rowcount == 0:
                raise _missing(name)
            tx.record(_event("secret.deleted", actor, name, None))

    async def reveal(self, names: Iterable[str]) -> tuple[list[Revealed], list[str]]:
        """(the values of `names` that exist, the names that do not)."""
        wanted = sorted(set(names))
        if not wanted:
            return [], []
        try:
            rows = {row[0]: row for row in await self._read(wanted)}
        except _READ_ERRORS as exc:
            raise SecretsUnavailable(f"the secrets table cannot be read ({_why(exc)})") from exc
        out = []
        for name in wanted:
            row = rows.get(name)
            if row is not None:
                _, version, nonce, sealed = row
                try:
                    value = self._box.open(name, version, nonce, sealed)
                except SealBroken as exc:
                    raise SecretsUnavailable(str(exc)) from exc
                out.append(Revealed(name, version, value))
        return out, [n for n in wanted if n not in rows]

    async def _read(self, names: list[str]) -> list[Row]:
        if self._raw is not None:
            return await self._raw.read(names)
        async with self.db.engine.connect() as conn:
            result = await conn.execute(_REVEAL, {"names": names})
            return [(r.name, int(r.version), r.nonce, r.sealed) for r in result]

    def _changing(self) -> AbstractAsyncContextManager[AuditTransaction]:
        return self.audit.changing(SecretsUnavailable, "secrets")


# Built once (SQLAlchemy then reuses its compiled form), and only the columns that open a
# value: every call with a secret runs it, and the timestamp columns cost a parse per row.
_REVEAL = select(secrets.c.name, secrets.c.version, secrets.c.nonce, secrets.c.sealed).where(
    secrets.c.name.in_(bindparam("names", expanding=True))
)


_READ_ERRORS = (
    OSError,
    SQLAlchemyError,
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def _missing(name: str) -> NotFound:
    return NotFound(f"no secret named {name!r}", code="secret_not_found")


def _event(action: str, actor: str, name: str, version: int | None) -> AuditEvent:
    return AuditEvent(action=action, actor=actor, payload={"name": name, "version": version})
