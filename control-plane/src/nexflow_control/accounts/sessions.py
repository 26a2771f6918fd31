"""Web login: passwords and browser sessions, beside the users they belong to.

A session is a random 256-bit secret in an HttpOnly cookie; the database keeps only its
sha256 (a dump of the table logs no one in) and the CSRF token the browser must echo
on unsafe requests. A session ends at the first of: logout, its absolute lifetime,
`idle` without a request, a password change, the user being disabled.

Every login, failed login, logout and password change is an audit event, committed
together with the row it changes. A failed login records the name tried and the client
address, never the password.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, insert, select, update

from ..audit import Action, AuditEvent, AuditLog
from ..db import Database
from ..errors import NotFound, Unauthenticated
from . import passwords
from ._db import changing, reading
from .models import user_passwords, users, web_sessions
from .records import Actor, User
from .rows import to_user, user_row

LAST_SEEN_RESOLUTION = timedelta(minutes=1)
"""`last_seen_at` is written at most this often per session (no write per request)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class WebSession:
    """A live browser session (the cookie's secret is not kept here)."""

    id: str
    user: User
    csrf: str
    created_at: datetime
    expires_at: datetime


class SessionStore:
    """Passwords and sessions in `db`, changes audited in `audit`; `clock` gives "now" (UTC)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        *,
        lifetime: timedelta = timedelta(hours=12),
        idle: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._audit = audit
        self._engine = db.engine
        self._lifetime, self._idle, self._now = lifetime, idle, clock

    async def set_password(self, name: str, password: str, *, actor: Actor) -> None:
        """Set `name`'s web-login password; their open sessions end."""
        hashed = await asyncio.to_thread(
            passwords.hash_password, passwords.check_strength(password)
        )
        now = self._now()
        async with changing(self._audit) as tx:
            row = await user_row(tx.conn, name)
            if row is None:
                raise NotFound(f"no user named {name!r}", code="user_not_found")
            done = await tx.conn.execute(
                update(user_passwords)
                .where(user_passwords.c.user_id == row.id)
                .values(hash=hashed, updated_at=now)
            )
            if done.rowcount == 0:
                await tx.conn.execute(
                    insert(user_passwords).values(user_id=row.id, hash=hashed, updated_at=now)
                )
            ended = await tx.conn.execute(
                update(web_sessions)
                .where(web_sessions.c.user_id == row.id, web_sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            tx.record(
                AuditEvent(
                    action=Action.PASSWORD_SET,
                    actor=actor.id,
                    payload={
                        "user": name,
                        "sessions_ended": ended.rowcount,
                        **actor.audit_fields(),
                    },
                )
            )

    async def login(self, name: str, password: str, *, client: str) -> tuple[str, WebSession]:
        """(cookie secret, session) for the right name and password, else `Unauthenticated`
        with one message whatever was wrong (no such user, no password, wrong password,
        disabled), so a caller learns nothing about which names exist."""
        row = await self._check_password(name, password, client=client, during="login")
        secret, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._now()
        session = WebSession(_session_id(secret), to_user(row), csrf, now, now + self._lifetime)
        async with changing(self._audit) as tx:
            await tx.conn.execute(
                insert(web_sessions).values(
                    id=session.id,
                    user_id=row.id,
                    csrf=csrf,
                    created_at=now,
                    expires_at=session.expires_at,
                    last_seen_at=now,
                )
            )
            tx.record(
                AuditEvent(
                    action=Action.LOGIN,
                    actor=name,
                    payload={"client": client, "channel": "web", "ref": session.id[:12]},
                )
            )
        return secret, session

    async def change_password(
        self, name: str, current: str, new: str, *, client: str, actor: Actor
    ) -> None:
        """A user changing their own password: the current one must be right (a wrong one
        counts as a failed login); then every session of theirs ends, this one too."""
        passwords.check_strength(new)
        await self._check_password(name, current, client=client, during="password_change")
        await self.set_password(name, new, actor=actor)

    async def _check_password(
        self, name: str, password: str, *, client: str, during: str
    ) -> Row[Any]:
        """The user row, if `password` is theirs and they are active; else the failure is
        audited (`auth.login_failed`) and `Unauthenticated` raised."""
        async with reading(self._engine) as conn:
            row = (
                await conn.execute(
                    select(users, user_passwords.c.hash.label("password_hash"))
                    .outerjoin(user_passwords, user_passwords.c.user_id == users.c.id)
                    .where(users.c.name == name)
                )
            ).first()
        stored = None if row is None else row.password_hash
        good = await asyncio.to_thread(passwords.verify_password, password, stored)
        if not good or row is None or row.disabled:
            await self._audit.append(
                AuditEvent(
                    action=Action.LOGIN_FAILED,
                    actor=name[:64] or None,
                    payload={"client": client, "channel": "web", "during": during},
                )
            )
            raise Unauthenticated("wrong user name or password", code="login_failed")
        return row

    async def session(self, secret: str) -> WebSession:
        """The live session a cookie stands for, else `Unauthenticated` (`session_expired`)."""
        now = self._now()
        async with reading(self._engine) as conn:
            row = (
                await conn.execute(
                    select(
                        web_sessions.c.id.label("session_id"),
                        web_sessions.c.csrf,
                        web_sessions.c.created_at.label("session_created_at"),
                        web_sessions.c.expires_at,
                        web_sessions.c.last_seen_at,
                        web_sessions.c.revoked_at,
                        users,
                    )
                    .join(users, users.c.id == web_sessions.c.user_id)
                    .where(web_sessions.c.id == _session_id(secret))
                )
            ).first()
        if (
            row is None
            or row.revoked_at is not None
            or row.disabled
            or now >= row.expires_at
            or now - row.last_seen_at >= self._idle
        ):
            raise Unauthenticated("not logged in, or the session has ended", code="session_expired")
        if now - row.last_seen_at >= LAST_SEEN_RESOLUTION:
            async with changing(self._audit) as tx:  # bookkeeping, no audit event
                await tx.conn.execute(
                    update(web_sessions)
                    .where(web_sessions.c.id == row.session_id)
                    .values(last_seen_at=now)
                )
        return WebSession(
            row.session_id, to_user(row), row.csrf, row.session_created_at, row.expires_at
        )

    async def logout(self, secret: str, *, client: str) -> bool:
        """End the session; False if it was not live."""
        now = self._now()
        async with changing(self._audit) as tx:
            row = (
                await tx.conn.execute(
                    select(web_sessions.c.id, users.c.name)
                    .join(users, users.c.id == web_sessions.c.user_id)
                    .where(
                        web_sessions.c.id == _session_id(secret),
                        web_sessions.c.revoked_at.is_(None),
                    )
                )
            ).first()
            if row is None:
                return False
            await tx.conn.execute(
                update(web_sessions).where(web_sessions.c.id == row.id).values(revoked_at=now)
            )
            tx.record(
                AuditEvent(
                    action=Action.LOGOUT,
                    actor=row.name,
                    payload={"client": client, "channel": "web", "ref": row.id[:12]},
                )
            )
        return True
