"""The admin's decisions, each on the record (a log entry and a row that stays): lookalike
names held for review (approve or reject), and the reasoned removal of a version or a
whole package (a tombstone with the reason; the blob is deleted and no longer served)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from .auth import Principal, now
from .context import Registry
from .db import name_reviews, versions
from .errors import Conflict, NotFound
from .events import append
from .models import ReviewOut


def _review_out(row: Any) -> ReviewOut:
    return ReviewOut(
        package=row.package,
        publisher=row.publisher,
        similar_to=json.loads(row.similar_to),
        status=row.status,
        reason=row.reason,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


async def reviews(reg: Registry, who: Principal, status: str | None) -> list[ReviewOut]:
    who.require_admin()
    stmt = select(name_reviews).order_by(name_reviews.c.created_at, name_reviews.c.package)
    if status:
        stmt = stmt.where(name_reviews.c.status == status)
    async with reg.db.engine.connect() as conn:
        return [_review_out(r) for r in (await conn.execute(stmt)).all()]


async def decide(
    reg: Registry, who: Principal, name: str, approve: bool, reason: str | None
) -> ReviewOut:
    """Approve (the package becomes resolvable) or reject (it stays unresolvable and its
    name refused) a held name; logged."""
    who.require_admin()
    status = "approved" if approve else "rejected"
    async with reg.db.writing() as conn:
        row = (
            await conn.execute(select(name_reviews).where(name_reviews.c.package == name))
        ).first()
        if row is None:
            raise NotFound(f"no review of {name!r}", code="review_not_found")
        if row.status != "held":
            raise Conflict(f"{name!r} was already {row.status}", code="review_decided")
        await conn.execute(
            name_reviews.update()
            .where(name_reviews.c.package == name)
            .values(status=status, reason=reason, decided_at=now())
        )
        await append(conn, {"type": f"name_{status}", "package": name, "reason": reason})
        row = (
            await conn.execute(select(name_reviews).where(name_reviews.c.package == name))
        ).first()
    return _review_out(row)


async def _live_digests(conn: AsyncConnection, digests: set[str]) -> set[str]:
    found = await conn.execute(
        select(versions.c.digest).where(
            versions.c.digest.in_(digests), versions.c.removed.is_(False)
        )
    )
    return set(found.scalars())


async def remove(reg: Registry, who: Principal, name: str, version: str | None, reason: str) -> int:
    """Remove one version (or, with `version` None, every version) with a reason; the rows
    stay as tombstones, the log records it, the blobs are deleted. The log index."""
    who.require_admin()
    where = [versions.c.package == name, versions.c.removed.is_(False)]
    if version is not None:
        where.append(versions.c.version == version)
    async with reg.db.writing() as conn:
        rows = (
            await conn.execute(select(versions.c.version, versions.c.digest).where(*where))
        ).all()
        if not rows:
            raise NotFound(f"nothing left to remove of {name} {version or ''}".strip())
        index = await append(
            conn,
            {
                "type": "remove",
                "package": name,
                "versions": sorted(r.version for r in rows),
                "reason": reason,
            },
        )
        await conn.execute(
            versions.update().where(*where).values(removed=True, removed_reason=reason)
        )
        gone = {r.digest for r in rows} - await _live_digests(conn, {r.digest for r in rows})
    for digest in gone:
        reg.blobs.delete(digest)
    return index
