"""`AccountStore`: users, API tokens and identity links, beside the audit log.

Build it with `await AccountStore.open(db, audit_log)`: it reads its tables in the shared
`Database` (migrated by `Database.open`). Every change runs in
`AuditLog.transaction()`: it holds the chain lock, so changes are serialized across
processes and checks made inside the transaction (does that name exist?) cannot race,
and the change and its `accounts.*` audit event commit together or not at all.

Errors: `InvalidInput` (422, naming the field), `NotFound` (`user_not_found`,
`token_not_found`, `identity_not_found`), `Conflict` (`user_exists`,
`identity_already_linked`), `Unauthenticated` (`unauthenticated`, `token_revoked`,
`token_expired`, `user_disabled`), `AccountsUnavailable` / `AuditUnavailable` (503).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete, insert, select, update

from ..audit import Action, AuditEvent, AuditLog
from ..db import Database
from ..errors import Conflict, InvalidInput, NotFound
from . import validate
from ._db import changing, reading
from .authn import authenticate
from .models import api_tokens, identities, users
from .records import Actor, Credential, Identity, Token, User
from .rows import load_users, to_token, to_user, token_select, user_row
from .scopes import DEFAULT_SCOPES
from .tokens import new_token, token_hash

if TYPE_CHECKING:
    from ..auth import Principal

P = TypeVar("P", bound="Principal")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AccountStore:
    """Users, API tokens and identity links; `clock` gives "now" (UTC, aware)."""

    def __init__(
        self, db: Database, audit: AuditLog, *, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self._db = db
        self._audit = audit
        self._engine = db.engine
        self._now = clock

    @classmethod
    async def open(
        cls, db: Database, audit: AuditLog, *, clock: Callable[[], datetime] = _utcnow
    ) -> AccountStore:
        """The store on `db`, whose tables `Database.open` migrated; changes audited in `audit`."""
        return cls(db, audit, clock=clock)

    # -- users ---------------------------------------------------------------------------

    async def create_user(self, name: str, roles: Sequence[str], *, actor: Actor) -> User:
        name, role_list = validate.user_name(name), validate.roles(roles)
        now, user_id = self._now(), f"u_{secrets.token_hex(8)}"
        async with changing(self._audit) as tx:
            if await user_row(tx.conn, name) is not None:
                raise Conflict(f"a user named {name!r} exists", code="user_exists", user=name)
            await tx.conn.execute(
                insert(users).values(
                    id=user_id,
                    name=name,
                    roles=role_list,
                    disabled=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            tx.record(
                _event(Action.USER_CREATED, actor, user=name, user_id=user_id, roles=role_list)
            )
        return User(user_id, name, tuple(role_list), False, now, now)

    async def list_users(self) -> list[User]:
        async with reading(self._engine) as conn:
            return await load_users(conn)

    async def get_user(self, name: str) -> User:
        async with reading(self._engine) as conn:
            found = await load_users(conn, name)
        if not found:
            raise _no_user(name)
        return found[0]

    async def as_now(self, asked: P) -> P | None:
        """`asked` (a principal recorded earlier) with the roles their account has now;
        None when it was disabled, deleted or replaced since: nothing that waited (an
        approval, a schedule) runs for a locked-out user. The bootstrap admin (no user
        id) is returned as is."""
        if asked.user_id is None:
            return asked
        try:
            user = await self.get_user(asked.id)
        except NotFound:
            return None
        if user.disabled or user.id != asked.user_id:
            return None
        return dataclasses.replace(asked, roles=user.roles)

    async def update_user(
        self,
        name: str,
        *,
        roles: Sequence[str] | None = None,
        disabled: bool | None = None,
        actor: Actor,
    ) -> User:
        """Set roles and/or the disabled flag; no change, no audit event."""
        if roles is None and disabled is None:
            raise InvalidInput("nothing to change: give roles or disabled", field="body")
        new_roles = None if roles is None else validate.roles(roles)
        async with changing(self._audit) as tx:
            row = await user_row(tx.conn, name)
            if row is None:
                raise _no_user(name)
            changes: dict[str, dict[str, Any]] = {}
            if new_roles is not None and list(row.roles) != new_roles:
                changes["roles"] = {"from": list(row.roles), "to": new_roles}
            if disabled is not None and bool(row.disabled) != disabled:
                changes["disabled"] = {"from": bool(row.disabled), "to": disabled}
            if changes:
                values = {k: v["to"] for k, v in changes.items()}
                await tx.conn.execute(
                    update(users)
                    .where(users.c.id == row.id)
                    .values(**values, updated_at=self._now())
                )
                tx.record(_event(Action.USER_UPDATED, actor, user=name, changes=changes))
        return await self.get_user(name)

    # -- tokens --------------------------------------------------------------------------

    async def create_token(
        self,
        user: str,
        *,
        name: str = "default",
        scopes: Sequence[str] | None = None,
        expires_at: datetime | None = None,
        actor: Actor,
    ) -> tuple[Token, str]:
        """A new token for `user`: (its public facts, the whole token — shown only now)."""
        name = validate.token_name(name)
        scope_list = validate.scopes(DEFAULT_SCOPES if scopes is None else scopes)
        now = self._now()
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)  # naive times are UTC, as elsewhere
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("expires_at must be in the future", field="expires_at")
        token_id, whole = new_token()
        async with changing(self._audit) as tx:
            owner = await user_row(tx.conn, user)
            if owner is None:
                raise _no_user(user)
            await tx.conn.execute(
                insert(api_tokens).values(
                    id=token_id,
                    user_id=owner.id,
                    name=name,
                    hash=token_hash(whole),
                    scopes=scope_list,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            tx.record(
                _event(
                    Action.TOKEN_CREATED,
                    actor,
                    user=user,
                    id=token_id,
                    name=name,
                    scopes=scope_list,
                    expires_at=expires_at,
                )
            )
        token = Token(
            token_id, owner.id, user, name, tuple(scope_list), now, expires_at, None, None
        )
        return token, whole

    async def list_tokens(self, user: str | None = None) -> list[Token]:
        """Tokens (all, or one user's; `user_not_found` if no such user), oldest first."""
        stmt = token_select().order_by(api_tokens.c.created_at, api_tokens.c.id)
        async with reading(self._engine) as conn:
            if user is not None:
                if await user_row(conn, user) is None:
                    raise _no_user(user)
                stmt = stmt.where(users.c.name == user)
            return [to_token(row) for row in await conn.execute(stmt)]

    async def revoke_token(self, token_id: str, *, actor: Actor) -> Token:
        """Revoke a token; revoking a revoked token changes nothing (and records nothing)."""
        async with changing(self._audit) as tx:
            row = (await tx.conn.execute(token_select().where(api_tokens.c.id == token_id))).first()
            if row is None:
                raise NotFound(f"no token with id {token_id!r}", code="token_not_found")
            token = to_token(row)
            if token.revoked_at is None:
                now = self._now()
                await tx.conn.execute(
                    update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=now)
                )
                tx.record(
                    _event(
                        Action.TOKEN_REVOKED, actor, user=token.user, id=token.id, name=token.name
                    )
                )
                token = dataclasses.replace(token, revoked_at=now)
        return token

    # -- identities ----------------------------------------------------------------------

    async def link_identity(
        self, user: str, provider: str, subject: str, *, actor: Actor
    ) -> Identity:
        provider, subject = validate.identity(provider, subject)
        now = self._now()
        async with changing(self._audit) as tx:
            owner = await user_row(tx.conn, user)
            if owner is None:
                raise _no_user(user)
            taken = (
                await tx.conn.execute(
                    select(users.c.name)
                    .join(identities, identities.c.user_id == users.c.id)
                    .where(identities.c.provider == provider, identities.c.subject == subject)
                )
            ).first()
            if taken is not None:
                raise Conflict(
                    f"{provider}:{subject} is already linked to user {taken.name!r}",
                    code="identity_already_linked",
                    identity=f"{provider}:{subject}",
                    user=taken.name,
                )
            await tx.conn.execute(
                insert(identities).values(
                    provider=provider, subject=subject, user_id=owner.id, created_at=now
                )
            )
            tx.record(
                _event(Action.IDENTITY_LINKED, actor, user=user, identity=f"{provider}:{subject}")
            )
        return Identity(provider, subject, now)

    async def unlink_identity(
        self, user: str, provider: str, subject: str, *, actor: Actor
    ) -> None:
        async with changing(self._audit) as tx:
            owner = await user_row(tx.conn, user)
            if owner is None:
                raise _no_user(user)
            gone = await tx.conn.execute(
                delete(identities).where(
                    identities.c.provider == provider,
                    identities.c.subject == subject,
                    identities.c.user_id == owner.id,
                )
            )
            if gone.rowcount == 0:
                raise NotFound(
                    f"{provider}:{subject} is not linked to user {user!r}",
                    code="identity_not_found",
                )
            tx.record(
                _event(Action.IDENTITY_UNLINKED, actor, user=user, identity=f"{provider}:{subject}")
            )

    async def user_for_identity(
        self, provider: str, subject: str, *, include_disabled: bool = False
    ) -> User | None:
        """The user `provider:subject` stands for; None if unlinked (or the user is disabled)."""
        async with reading(self._engine) as conn:
            row = (
                await conn.execute(
                    select(users)
                    .join(identities, identities.c.user_id == users.c.id)
                    .where(identities.c.provider == provider, identities.c.subject == subject)
                )
            ).first()
        if row is None or (row.disabled and not include_disabled):
            return None
        return to_user(row)

    # -- authentication ------------------------------------------------------------------

    async def authenticate(self, token: str) -> Credential:
        """The user and token a presented API token stands for, or `Unauthenticated`."""
        return await authenticate(self._engine, self._db.write_turn, token, self._now())


def _event(action: str, actor: Actor, **payload: Any) -> AuditEvent:
    return AuditEvent(action=action, actor=actor.id, payload={**payload, **actor.audit_fields()})


def _no_user(name: str) -> NotFound:
    return NotFound(f"no user named {name!r}", code="user_not_found")
