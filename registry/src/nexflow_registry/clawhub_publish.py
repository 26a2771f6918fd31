"""ClawHub's publish: one upload per file, then `POST /api/v1/skills` naming them.

ClawHub publishes are unsigned (the CLI cannot sign). They pass every other check of a
Nexflow publish — the same safe unpacking (the files are put in a zip and unpacked like
any upload), the SKILL.md reading, the scan, the lookalike hold, the log — and are stored
with `signed: false`: ClawHub clients can install them, Nexflow never resolves them as
`latest`, until the publisher attaches a signature over the same files
(`POST /api/v1/packages/{name}/{version}/signature`)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select

from . import publishing
from .auth import Principal, now
from .clawhub_models import ClawPublishIn, ClawPublishOut, UploadUrlIn
from .clawhub_views import as_zip
from .context import Registry
from .db import uploads
from .errors import BadRequest, NotFound


def _dir(reg: Registry) -> Path:
    path = reg.scratch / "uploads"
    path.mkdir(exist_ok=True)
    return path


UPLOAD_TTL = timedelta(hours=1)
"""uploads no publish named within this long are dropped"""
ADMIN_UPLOADER = "*admin"  # not a valid publisher name


def _uploader(who: Principal) -> str:
    return who.publisher or ADMIN_UPLOADER


def _publisher_of(who: Principal, owner: str | None) -> str:
    publisher = owner or who.publisher
    if not publisher:
        raise BadRequest("an admin publishes with --owner NAME", code="publisher_required")
    return publisher


async def upload_ticket(reg: Registry, who: Principal, body: UploadUrlIn) -> str:
    """Record an announced upload; its ticket."""
    if body.size > reg.limits.max_file_bytes:
        raise BadRequest(
            f"{body.path!r}: over {reg.limits.max_file_bytes} bytes", code="archive_file_too_large"
        )
    ticket = secrets.token_urlsafe(24)
    cutoff = (datetime.now(UTC) - UPLOAD_TTL).isoformat(timespec="seconds")
    async with reg.db.writing() as conn:
        stale = await conn.execute(
            delete(uploads).where(uploads.c.created_at < cutoff).returning(uploads.c.storage_id)
        )
        for storage in stale.scalars():
            if storage:
                (_dir(reg) / storage).unlink(missing_ok=True)
        await conn.execute(
            uploads.insert().values(
                ticket=ticket,
                publisher=_uploader(who),
                path=body.path,
                size=body.size,
                sha256=body.sha256,
                created_at=now(),
            )
        )
    return ticket


async def receive(reg: Registry, who: Principal, ticket: str, data: bytes) -> str:
    """Store an upload's bytes if they are what was announced; its storage id."""
    async with reg.db.writing() as conn:
        row = (await conn.execute(select(uploads).where(uploads.c.ticket == ticket))).first()
        if row is None or row.publisher != _uploader(who):
            raise NotFound("no such upload ticket", code="upload_not_found")
        if len(data) != row.size or hashlib.sha256(data).hexdigest() != row.sha256:
            raise BadRequest(
                f"{row.path!r}: the bytes differ from the announced size or sha256",
                code="upload_mismatch",
            )
        storage = secrets.token_hex(16)
        await asyncio.to_thread((_dir(reg) / storage).write_bytes, data)
        await conn.execute(
            uploads.update().where(uploads.c.ticket == ticket).values(storage_id=storage)
        )
    return storage


async def _files(reg: Registry, uploader: str, body: ClawPublishIn) -> dict[str, bytes]:
    ids = [f.storageId for f in body.files]
    async with reg.db.engine.connect() as conn:
        rows = {
            r.storage_id: r
            for r in (
                await conn.execute(select(uploads).where(uploads.c.storage_id.in_(ids)))
            ).all()
        }
    files: dict[str, bytes] = {}
    for f in body.files:
        row = rows.get(f.storageId)
        if f.path in files:
            raise BadRequest(f"{f.path!r}: named twice", code="archive_duplicate")
        if row is None or row.publisher != uploader or row.path != f.path:
            raise BadRequest(
                f"{f.path!r}: no upload {f.storageId!r} of this path by this token's owner",
                code="upload_not_found",
            )
        files[f.path] = await asyncio.to_thread((_dir(reg) / f.storageId).read_bytes)
    return files


async def publish(reg: Registry, who: Principal, body: ClawPublishIn) -> ClawPublishOut:
    """Check, scan, store (unsigned) and log a ClawHub upload."""
    publisher = _publisher_of(who, body.ownerHandle)
    who.may_publish(publisher, body.slug)
    files = await _files(reg, _uploader(who), body)
    data = as_zip(files)
    done = await asyncio.to_thread(publishing.inspect, reg, data, None, (body.slug, body.version))
    stored = await publishing.store(reg, publisher, done, None, body.changelog)
    async with reg.db.writing() as conn:
        await conn.execute(
            delete(uploads).where(uploads.c.storage_id.in_([f.storageId for f in body.files]))
        )
    for f in body.files:
        (_dir(reg) / f.storageId).unlink(missing_ok=True)
    status = "pending" if stored.held else "published"
    return ClawPublishOut(
        skillId=stored.name,
        versionId=f"{stored.name}@{stored.version}",
        slug=stored.name,
        version=stored.version,
        status=status,
        publicationStatus=status,
    )
