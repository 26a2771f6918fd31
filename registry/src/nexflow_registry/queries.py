"""Reads: search, a package's versions, one version, its archive."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import or_, select

from . import semver
from .db import Database, versions
from .errors import NotFound
from .models import PackageOut, SearchHit, SearchOut, VersionBrief, VersionOut
from .signing import ManifestEntry


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _version_out(row: Any) -> VersionOut:
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
    )


def _latest(rows: list[Any]) -> Any | None:
    live = [r for r in rows if not r.yanked]
    return max(live, key=lambda r: semver.parse(r.version).key()) if live else None


async def search(db: Database, q: str, limit: int = 50) -> SearchOut:
    """Packages whose name, tags or description contain `q` (case-insensitive), each at its
    latest version not yanked; exact name matches first."""
    pattern = f"%{_escape_like(q.lower())}%"
    stmt = select(versions).where(versions.c.yanked.is_(False))
    if q:
        stmt = stmt.where(
            or_(
                versions.c.package.like(pattern, escape="\\"),
                versions.c.tags.ilike(pattern, escape="\\"),
                versions.c.description.ilike(pattern, escape="\\"),
            )
        )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    by_name: dict[str, list[Any]] = {}
    for row in rows:
        by_name.setdefault(row.package, []).append(row)
    hits = []
    for name in sorted(by_name, key=lambda n: (n != q.lower(), not n.startswith(q.lower()), n)):
        best = _latest(by_name[name])
        if best is not None:
            hits.append(
                SearchHit(
                    name=name,
                    publisher=best.publisher,
                    version=best.version,
                    description=best.description,
                    tags=json.loads(best.tags),
                )
            )
        if len(hits) >= limit:
            break
    return SearchOut(results=hits)


async def package(db: Database, name: str) -> PackageOut:
    async with db.engine.connect() as conn:
        rows = list((await conn.execute(select(versions).where(versions.c.package == name))).all())
    if not rows:
        raise NotFound(f"no package {name!r}")
    rows.sort(key=lambda r: semver.parse(r.version).key(), reverse=True)
    best = _latest(rows)
    return PackageOut(
        name=name,
        publisher=rows[0].publisher,
        latest=best.version if best is not None else None,
        versions=[
            VersionBrief(
                version=r.version, digest=r.digest, yanked=bool(r.yanked), created_at=r.created_at
            )
            for r in rows
        ],
    )


async def version(db: Database, name: str, version: str) -> VersionOut:
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(versions).where(versions.c.package == name, versions.c.version == version)
            )
        ).first()
    if row is None:
        raise NotFound(f"no version {name} {version}")
    return _version_out(row)


async def known_digest(db: Database, digest: str) -> bool:
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(versions.c.package).where(versions.c.digest == digest).limit(1)
            )
        ).first()
    return row is not None
