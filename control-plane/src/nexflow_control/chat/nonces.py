"""One-time nonces for approval buttons in a chat, minted by the control plane.

`mint(approval_id, channel)` gives the gateway a fresh nonce for the buttons it sends to
one chat (only its sha256 is stored); a press must bring it back. `claim` spends it,
atomically: unknown, expired, or minted for another approval or chat → 403
`nonce_invalid`; already spent → 409 `nonce_used`. A claim the approver policy then
refuses is `release`d, so a bystander's tap does not burn the approver's button.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..db import Database, error_type
from ..errors import ApprovalsUnavailable, Conflict, NonceInvalid
from .models import chat_nonces


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("utf-8", "surrogatepass")).hexdigest()


class ChatNonces:
    def __init__(
        self,
        db: Database,
        *,
        ttl_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db, self._ttl, self._now = db, timedelta(seconds=ttl_s), clock

    async def mint(self, approval_id: str, channel: str, expires_at: datetime) -> str:
        """A new nonce for `approval_id`'s buttons in `channel`, valid until the approval
        expires (at most `ttl_s`)."""
        nonce = secrets.token_urlsafe(24)
        now = self._now()
        async with self._writing() as conn:
            await conn.execute(
                insert(chat_nonces).values(
                    hash=_hash(nonce),
                    approval_id=approval_id,
                    channel=channel,
                    created_at=now,
                    expires_at=min(expires_at, now + self._ttl),
                )
            )
        return nonce

    async def claim(self, nonce: str, approval_id: str, channel: str, identity: str) -> None:
        """Spend `nonce` for a press on `approval_id` in `channel` by `identity`."""
        digest, now = _hash(nonce), self._now()
        async with self._writing() as conn:
            row = (
                await conn.execute(select(chat_nonces).where(chat_nonces.c.hash == digest))
            ).first()
            if (
                row is None
                or row.approval_id != approval_id
                or row.channel != channel
                or row.expires_at <= now
            ):
                raise NonceInvalid(
                    "this button is not valid for this approval in this chat",
                    approval_id=approval_id,
                )
            spent = await conn.execute(
                update(chat_nonces)
                .where(chat_nonces.c.hash == digest, chat_nonces.c.used_at.is_(None))
                .values(used_at=now, used_by=identity[:300])
            )
            if spent.rowcount != 1:
                raise Conflict("this button was already pressed", code="nonce_used")

    async def release(self, nonce: str) -> None:
        """Make a claimed nonce pressable again (its press was refused)."""
        async with self._writing() as conn:
            await conn.execute(
                update(chat_nonces)
                .where(chat_nonces.c.hash == _hash(nonce))
                .values(used_at=None, used_by=None)
            )

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction in this process's write turn; store failures are 503."""
        try:
            async with self._db.write_turn, self._db.writing() as conn:
                yield conn
        except (OSError, SQLAlchemyError) as exc:
            raise ApprovalsUnavailable(
                f"chat nonces cannot be written ({error_type(exc)})"
            ) from exc
