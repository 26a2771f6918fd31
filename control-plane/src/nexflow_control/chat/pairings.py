"""Pairing codes: how an unknown chat sender becomes a linked user, with an admin's word.

The gateway asks for a code for a sender no user is linked to (`request`); the sender
sees only that code. An admin confirms it for a user (`confirm`: the identity is linked,
`identity.linked` + `pairing.confirmed`) or rejects it. A code is 8 characters of an
unambiguous alphabet, lives `ttl_s`, and is used once. Bounded: one live code per
identity (asking again returns it), at most `per_identity_per_hour` new codes per
identity, at most `max_pending` live codes in all (429 `pairing_rate_limited` /
`pairing_limit`). Every change is audited in the same transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..accounts import AccountStore, Actor
from ..audit import AuditEvent, AuditLog
from ..auth import Principal
from ..db import error_type
from ..errors import AccountsUnavailable, Conflict, NotFound, TooManyRequests
from ..throttle import SharedCounts
from .identity import split_identity
from .models import pairings

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LEN = 8
_HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class Pairing:
    code: str
    identity: str
    channel: str
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    user_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "identity": self.identity,
            "channel": self.channel,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decided_by": self.decided_by,
            "user": self.user_name,
        }


@dataclass(frozen=True, slots=True)
class PairingLimits:
    ttl_s: float = 600.0
    per_identity_per_hour: int = 3
    max_pending: int = 100


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LEN))


class PairingStore:
    def __init__(
        self,
        audit: AuditLog,
        accounts: AccountStore,
        counts: SharedCounts,
        limits: PairingLimits | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._audit, self._accounts, self._counts = audit, accounts, counts
        self._limits = limits or PairingLimits()
        self._now = clock

    async def request(self, identity: str, channel: str, who: Principal) -> Pairing:
        """A live code for `identity` (the one it has, or a new one)."""
        provider, subject = split_identity(identity, "identity")
        identity = f"{provider}:{subject}"
        if await self._accounts.user_for_identity(provider, subject, include_disabled=True):
            raise Conflict(f"{identity} is already linked", code="identity_already_linked")
        now = self._now()
        live = [p for p in await self._select(pairings.c.identity == identity) if _live(p, now)]
        if live:
            return live[0]
        seen = await self._counts.take(
            "pairing.identity", identity, (_HOUR_S,), limit=self._limits.per_identity_per_hour
        )
        if not seen.taken:
            raise TooManyRequests(
                f"too many pairing codes for {identity} this hour", code="pairing_rate_limited"
            )
        pairing = Pairing(
            new_code(), identity, channel, "pending", now, now + _seconds(self._limits.ttl_s)
        )
        async with self._audit.transaction() as tx:
            pending = (
                await tx.conn.execute(
                    select(func.count())
                    .select_from(pairings)
                    .where(pairings.c.status == "pending", pairings.c.expires_at > now)
                )
            ).scalar_one()
            if pending >= self._limits.max_pending:
                raise TooManyRequests(
                    "too many pairing codes wait for an admin", code="pairing_limit"
                )
            await tx.conn.execute(
                insert(pairings).values(
                    code=pairing.code,
                    identity=identity,
                    channel=channel,
                    status="pending",
                    created_at=now,
                    expires_at=pairing.expires_at,
                )
            )
            tx.record(_event("pairing.requested", who, pairing))
        return pairing

    async def pending(self) -> list[Pairing]:
        """The codes that wait for an admin, newest first."""
        now = self._now()
        return [p for p in await self._select(pairings.c.status == "pending") if p.expires_at > now]

    async def confirm(self, code: str, user: str, who: Principal) -> Pairing:
        """Link the code's identity to `user`; the code is spent."""
        pairing = await self._live(code)
        provider, subject = split_identity(pairing.identity, "identity")
        await self._accounts.link_identity(
            user, provider, subject, actor=Actor(who.id, who.token_id)
        )
        return await self._decide(pairing, "confirmed", who, user)

    async def reject(self, code: str, who: Principal) -> Pairing:
        return await self._decide(await self._live(code), "rejected", who, None)

    async def _decide(
        self, pairing: Pairing, status: str, who: Principal, user: str | None
    ) -> Pairing:
        now = self._now()
        async with self._audit.transaction() as tx:
            done = await tx.conn.execute(
                update(pairings)
                .where(pairings.c.code == pairing.code, pairings.c.status == "pending")
                .values(status=status, decided_at=now, decided_by=who.id, user_name=user)
            )
            if done.rowcount != 1:
                raise _not_pending(pairing.code)
            decided = Pairing(
                pairing.code,
                pairing.identity,
                pairing.channel,
                status,
                pairing.created_at,
                pairing.expires_at,
                now,
                who.id,
                user,
            )
            tx.record(_event(f"pairing.{status}", who, decided))
        return decided

    async def _live(self, code: str) -> Pairing:
        code = code.strip().upper()
        found = await self._select(pairings.c.code == code)
        if not found:
            raise NotFound(f"no pairing code {code[:16]!r}", code="pairing_not_found")
        if not _live(found[0], self._now()):
            raise _not_pending(code)
        return found[0]

    async def _select(self, where: Any) -> list[Pairing]:
        try:
            async with self._audit.engine.connect() as conn:
                rows = await conn.execute(
                    select(pairings).where(where).order_by(pairings.c.created_at.desc()).limit(500)
                )
                return [Pairing(**dict(r._mapping)) for r in rows]
        except (OSError, SQLAlchemyError) as exc:
            raise AccountsUnavailable(f"pairings cannot be read ({error_type(exc)})") from exc


def _live(pairing: Pairing, now: datetime) -> bool:
    return pairing.status == "pending" and pairing.expires_at > now


def _not_pending(code: str) -> Conflict:
    return Conflict(
        f"pairing code {code[:16]!r} was used, rejected or has expired",
        code="pairing_not_pending",
    )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _event(action: str, who: Principal, pairing: Pairing) -> AuditEvent:
    return AuditEvent(
        action=action,
        actor=who.id,
        payload={
            "identity": pairing.identity,
            "channel": pairing.channel,
            "code": pairing.code,
            "user": pairing.user_name,
            "via": who.via or "bootstrap",
        },
    )
