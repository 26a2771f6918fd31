"""Reads: search, a package's page, one version, what may be served."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from . import semver
from .db import Database, name_reviews, versions
from .errors import Conflict, Forbidden, Gone, NotFound
from .models import PackageOut, SearchHit, SearchOut, VersionBrief, VersionOut
from .scan import Finding, Requests
from .signing import ManifestEntry


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def requests_of(row: Any) -> Requests | None:
    """The version's recorded requests; None when it predates the record."""
    return Requests.model_validate_json(row.requests) if row.requests else None


def version_out(row: Any, review: str | None = None) -> VersionOut:
    return VersionOut(
        name=row.package,
        version=row.version,
        publisher=row.publisher,
        digest=row.digest,
        size=row.size,
        archive_format=row.archive_format,
        description=row.description,
        tags=json.loads(row.tags),
        permissions=json.loads(row.permissions),
        manifest=[ManifestEntry.model_validate(m) for m in json.loads(row.manifest)],
        key_id=row.key_id,
        signature=row.signature,
        log_index=row.log_index,
        yanked=bool(row.yanked),
        yank_reason=row.yank_reason,
        created_at=row.created_at,
        scan_verdict=row.scan_verdict,
        scan_findings=[Finding.model_validate(f) for f in json.loads(row.scan_findings)],
        signed=bool(row.signed),
        removed=bool(row.removed),
        removed_reason=row.removed_reason,
        changelog=row.changelog,
        review=review,
        requests=requests_of(row),
    )


def latest(rows: list[Any], signed_only: bool = True) -> Any | None:
    """The highest version neither yanked nor removed (and signed, unless `signed_only` is
    False: ClawHub's view)."""
    live = [r for r in rows if not r.yanked and not r.removed and (r.signed or not signed_only)]
    return max(live, key=lambda r: semver.parse(r.version).key()) if live else None


async def reviews_of(conn: AsyncConnection, names: list[str]) -> dict[str, Any]:
    """name -> its review row, for the names that have one."""
    if not names:
        return {}
    found = await conn.execute(select(name_reviews).where(name_reviews.c.package.in_(names)))
    return {r.package: r for r in found.all()}


def hidden(review: Any | None) -> bool:
    """A held or rejected name resolves to nothing."""
    return review is not None and review.status != "approved"


# What search and listings show: not the manifest, signature or findings.
_BRIEF = (
    "package",
    "version",
    "publisher",
    "description",
    "tags",
    "yanked",
    "removed",
    "signed",
    "created_at",
    "changelog",
)


async def candidates(db: Database, q: str, tag: str | None = None) -> dict[str, list[Any]]:
    """Live versions of packages matching `q` (name, tags, description) and carrying `tag`
    (exactly, when given), by package; names held for review or rejected left out."""
    pattern = f"%{_escape_like(q.lower())}%"
    stmt = select(*(versions.c[c] for c in _BRIEF)).where(
        versions.c.yanked.is_(False), versions.c.removed.is_(False)
    )
    if q:
        stmt = stmt.where(
            or_(
                versions.c.package.like(pattern, escape="\\"),
                versions.c.tags.ilike(pattern, escape="\\"),
                versions.c.description.ilike(pattern, escape="\\"),
            )
        )
    if tag:  # narrowed in SQL by the tag's JSON text, then checked exactly below
        quoted = _escape_like(json.dumps(tag)[1:-1])
        stmt = stmt.where(versions.c.tags.like(f'%"{quoted}"%', escape="\\"))
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
        by_name: dict[str, list[Any]] = {}
        for row in rows:
            if tag and tag not in json.loads(row.tags):
                continue
            by_name.setdefault(row.package, []).append(row)
        unresolved = await conn.execute(
            select(name_reviews.c.package).where(name_reviews.c.status != "approved")
        )
        withheld = set(unresolved.scalars())
    return {n: r for n, r in by_name.items() if n not in withheld}


def ranked(names: list[str], q: str) -> list[str]:
    """Exact name first, then names starting with `q`, then the rest; each by name."""
    return sorted(names, key=lambda n: (n != q.lower(), not n.startswith(q.lower()), n))


async def search(
    db: Database, q: str, limit: int = 50, *, tag: str | None = None, offset: int = 0
) -> SearchOut:
    """Packages whose name, tags or description contain `q` (case-insensitive) and that
    carry `tag`, each at its latest signed version neither yanked nor removed; exact name
    matches first. One page of `limit` from `offset`; `next_cursor` is the next page's
    offset (None on the last page)."""
    by_name = await candidates(db, q, tag)
    hits: list[SearchHit] = []
    skipped = 0
    more = False
    for name in ranked(list(by_name), q):
        best = latest(by_name[name])
        if best is None:
            continue
        if skipped < offset:
            skipped += 1
            continue
        if len(hits) >= limit:
            more = True
            break
        hits.append(
            SearchHit(
                name=name,
                publisher=best.publisher,
                version=best.version,
                description=best.description,
                tags=json.loads(best.tags),
            )
        )
    return SearchOut(results=hits, next_cursor=str(offset + limit) if more else None)


async def rows_of(db: Database, name: str) -> tuple[list[Any], Any | None]:
    """Every version row of `name` (newest first) and its review row; `NotFound` if none."""
    async with db.engine.connect() as conn:
        rows = list((await conn.execute(select(versions).where(versions.c.package == name))).all())
        review = (await reviews_of(conn, [name])).get(name)
    if not rows:
        raise NotFound(f"no package {name!r}")
    rows.sort(key=lambda r: semver.parse(r.version).key(), reverse=True)
    return rows, review


async def package(db: Database, name: str) -> PackageOut:
    rows, review = await rows_of(db, name)
    best = None if hidden(review) else latest(rows)
    shown = best or rows[0]
    return PackageOut(
        name=name,
        publisher=rows[0].publisher,
        latest=best.version if best is not None else None,
        versions=[
            VersionBrief(
                version=r.version,
                digest=r.digest,
                yanked=bool(r.yanked),
                created_at=r.created_at,
                yank_reason=r.yank_reason,
                removed=bool(r.removed),
                removed_reason=r.removed_reason,
                scan_verdict=r.scan_verdict,
                signed=bool(r.signed),
                key_id=r.key_id,
                log_index=r.log_index,
            )
            for r in rows
        ],
        description=shown.description,
        tags=json.loads(shown.tags),
        permissions=json.loads(shown.permissions),
        scan_verdict=shown.scan_verdict,
        key_id=shown.key_id,
        review=review.status if review is not None else None,
        similar_to=json.loads(review.similar_to) if review is not None else [],
        requests=requests_of(shown),
    )


async def version(db: Database, name: str, version: str) -> VersionOut:
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(versions).where(versions.c.package == name, versions.c.version == version)
            )
        ).first()
        review = (await reviews_of(conn, [name])).get(name)
    if row is None:
        raise NotFound(f"no version {name} {version}")
    return version_out(row, review.status if review is not None else None)


def refuse_unservable(found: VersionOut) -> None:
    """`Gone` (removed, with the reason), or a held / rejected name: not served."""
    if found.removed:
        raise Gone(f"{found.name} {found.version} was removed: {found.removed_reason}")
    if found.review == "held":
        raise Conflict(f"{found.name!r} is held for an admin's review", code="held_for_review")
    if found.review == "rejected":
        raise Forbidden(f"the name {found.name!r} was rejected by an admin", code="name_rejected")


async def servable_digest(db: Database, digest: str) -> None:
    """`NotFound` for an unknown digest; refused like `refuse_unservable` when no version
    with it may be served."""
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(versions.c.package, versions.c.version)
                .where(versions.c.digest == digest)
                .order_by(versions.c.removed)
                .limit(1)
            )
        ).first()
    if row is None:
        raise NotFound(f"no blob {digest[:80]!r}", code="blob_not_found")
    refuse_unservable(await version(db, row.package, row.version))
