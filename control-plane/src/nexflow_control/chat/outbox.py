"""`ChatOutbox`: results of finished calls owed to a chat, kept until the gateway acks them.

A call owes its result to a chat when its principal has a chat destination
(`Principal.deliver_to`): a call a gateway ran for a linked user from a chat (its result
goes back to that chat, also when it waited for an approval and the gateway restarted
since), or a schedule's run whose destination is a chat. When such a call ends (its
`call.finished` or `call.failed` is written) one row is added, keyed by the call id (a
second write for the same call is ignored). The text is the call's stored (already
redacted) output cut to `MAX_TEXT` characters; the gateway sends it as plain text.

The gateway (`calls:run_as`) reads the undelivered rows of its channel, oldest first, at
most `MAX_BATCH` at a time, sends each, then acks it: delivery is at least once, and an
ack (idempotent) makes a second send rare.

Rows do not pile up: an acked row is deleted `KEEP_ACKED` after its ack, and one never
acked (its chat's connector gone, the gateway down for days) `KEEP_UNACKED` after it was
written, counted in a warning (the call's result stays in the call's record and the audit
log; only the chat message is given up). The prune runs with a write to the outbox, at
most once per `PRUNE_EVERY`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..db import Database, error_type
from ..errors import NotFound, Unavailable
from .models import chat_outbox

log = structlog.get_logger("nexflow.chat.outbox")

MAX_TEXT = 3500
"""Characters of a result sent to a chat (the output beyond is cut, marked `…`)."""
MAX_BATCH = 100
CHAT_PROVIDERS = ("telegram", "discord")
KEEP_ACKED = timedelta(days=1)
KEEP_UNACKED = timedelta(days=7)
PRUNE_EVERY = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    call_id: str
    channel: str
    chat: str
    text: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "channel": self.channel,
            "chat": self.chat,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
        }


def split_destination(destination: str) -> tuple[str, str] | None:
    """`telegram:<chat>` → (telegram, chat); None for anything that is not a chat."""
    provider, sep, chat = destination.partition(":")
    if not sep or provider not in CHAT_PROVIDERS or not chat:
        return None
    return provider, chat


def result_text(skill: str, call_id: str, status: str, output: Any, error: str | None) -> str:
    """What the chat is told: the skill, the call, how it ended, and its output (as data)."""
    head = f"{skill} ({call_id}) {status}"
    if error:
        head += f": {error}"
    if output is None:
        return head + ("" if error else ".")
    body = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    text = f"{head}:\n{body}"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


class ChatOutbox:
    def __init__(self, db: Database, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._db, self._now = db, clock
        self._pruned_at: datetime | None = None

    async def add(self, destination: str, call_id: str, text: str) -> None:
        """Owe `text` to the chat `destination` (once per call); a failure is logged, not
        raised: the call's own result is not changed by a delivery that cannot be stored."""
        where = split_destination(destination)
        if where is None:
            return
        try:
            async with self._writing() as conn:
                await conn.execute(
                    insert(chat_outbox).values(
                        call_id=call_id,
                        channel=where[0],
                        chat=where[1],
                        text=text[:MAX_TEXT],
                        created_at=self._now(),
                    )
                )
        except IntegrityError:
            return  # already owed
        except Unavailable as exc:
            log.error("outbox.write_failed", call_id=call_id, error=exc.message)
            return
        await self._prune_now_and_then()

    async def due(self, channel: str, limit: int) -> list[Delivery]:
        """The undelivered results of `channel`, oldest first (at most `limit`)."""
        query = (
            select(chat_outbox)
            .where(chat_outbox.c.channel == channel, chat_outbox.c.acked_at.is_(None))
            .order_by(chat_outbox.c.id)
            .limit(max(1, min(limit, MAX_BATCH)))
        )
        try:
            async with self._db.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        except (OSError, SQLAlchemyError) as exc:
            raise Unavailable(f"the chat outbox cannot be read ({error_type(exc)})") from exc
        return [Delivery(r.id, r.call_id, r.channel, r.chat, r.text, r.created_at) for r in rows]

    async def ack(self, delivery_id: int) -> None:
        """Mark a result delivered; acking it again changes nothing. 404 if unknown."""
        async with self._writing() as conn:
            found = (
                await conn.execute(select(chat_outbox.c.id).where(chat_outbox.c.id == delivery_id))
            ).first()
            if found is None:
                raise NotFound(f"no outbox entry {delivery_id}", code="outbox_entry_not_found")
            await conn.execute(
                update(chat_outbox)
                .where(chat_outbox.c.id == delivery_id, chat_outbox.c.acked_at.is_(None))
                .values(acked_at=self._now())
            )
        await self._prune_now_and_then()

    async def prune(self) -> tuple[int, int]:
        """Delete acked rows older than `KEEP_ACKED` and unacked ones older than
        `KEEP_UNACKED`; (acked, expired) deleted."""
        now = self._now()
        acked_before, written_before = now - KEEP_ACKED, now - KEEP_UNACKED
        c = chat_outbox.c
        async with self._writing() as conn:
            expired = (
                await conn.execute(
                    delete(chat_outbox).where(c.acked_at.is_(None), c.created_at < written_before)
                )
            ).rowcount
            acked = (
                await conn.execute(delete(chat_outbox).where(c.acked_at < acked_before))
            ).rowcount
        if expired:
            log.warning("outbox.expired_undelivered", rows=expired, kept_days=KEEP_UNACKED.days)
        return acked, expired

    async def _prune_now_and_then(self) -> None:
        now = self._now()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        try:
            await self.prune()
        except Unavailable as exc:  # the next write tries again
            log.warning("outbox.prune_failed", error=exc.message)
            self._pruned_at = None

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._db.write_turn, self._db.writing() as conn:
                yield conn
        except IntegrityError:
            raise
        except (OSError, SQLAlchemyError) as exc:
            raise Unavailable(f"the chat outbox cannot be written ({error_type(exc)})") from exc
