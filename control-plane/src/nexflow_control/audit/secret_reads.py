"""When each secret was last read by a call: the newest `secret.read` event per name.

Bounded: only the newest `WINDOW` `secret.read` events are looked at (a walk of the
(action, seq) index), so a secret last read before them shows as never read there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from .models import audit_events as t
from .query import _fetch

if TYPE_CHECKING:
    from .store import AuditLog

WINDOW = 10_000


@dataclass(frozen=True, slots=True)
class SecretRead:
    name: str
    at: datetime
    actor: str | None
    skill: str | None
    call_id: str | None


async def last_reads(log: AuditLog) -> dict[str, SecretRead]:
    """The newest read of each secret name among the newest `WINDOW` reads."""
    name = t.c.payload["name"].as_string()
    recent = (
        select(t.c.seq, name.label("name"))
        .where(t.c.action == "secret.read")
        .order_by(t.c.seq.desc())
        .limit(WINDOW)
        .subquery()
    )
    newest = select(func.max(recent.c.seq)).group_by(recent.c.name)
    rows = await _fetch(log, select(t).where(t.c.seq.in_(newest)))
    out: dict[str, SecretRead] = {}
    for row in rows:
        key = str((row.payload or {}).get("name", ""))
        out[key] = SecretRead(key, row.ts, row.actor, row.skill, row.call_id)
    return out
