"""Writes: publishers, their keys and tokens, publishing and yanking. Each of them that a
client must be able to audit (publisher, key, publish, yank) is appended to the
transparency log in the same transaction as the row it describes."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from . import archives, semver, signing, skillmd
from .auth import Principal, new_token, now, store_token
from .context import Registry
from .db import publisher_keys, publishers, versions
from .errors import BadRequest, Conflict, NotFound, SignatureInvalid
from .models import KeyOut, TokenOut
from .transparency import log


def entry_bytes(event: dict[str, Any]) -> bytes:
    """A log entry: canonical JSON of the event."""
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


async def _append(conn: AsyncConnection, event: dict[str, Any]) -> int:
    return await log.append(conn, [entry_bytes({**event, "time": now()})])


async def _add_key(conn: AsyncConnection, publisher: str, public_key: str) -> KeyOut:
    signing.load_public(public_key)
    kid = signing.key_id(public_key)
    if (
        await conn.execute(select(publisher_keys.c.key_id).where(publisher_keys.c.key_id == kid))
    ).first():
        raise Conflict("this key is already registered", code="key_exists")
    await conn.execute(
        publisher_keys.insert().values(
            key_id=kid, publisher=publisher, public_key=public_key, created_at=now()
        )
    )
    index = await _append(
        conn, {"type": "key_added", "publisher": publisher, "key_id": kid, "public_key": public_key}
    )
    return KeyOut(publisher=publisher, key_id=kid, log_index=index)


async def _publisher_exists(conn: AsyncConnection, name: str) -> bool:
    return (
        await conn.execute(select(publishers.c.name).where(publishers.c.name == name))
    ).first() is not None


async def create_publisher(reg: Registry, who: Principal, name: str, public_key: str) -> TokenOut:
    """A new publisher with its first key; a publish token for it."""
    who.require_admin()
    async with reg.db.writing() as conn:
        if await _publisher_exists(conn, name):
            raise Conflict(f"publisher {name!r} exists", code="publisher_exists")
        await conn.execute(publishers.insert().values(name=name, created_at=now()))
        await _append(conn, {"type": "publisher_created", "publisher": name})
        await _add_key(conn, name, public_key)
        token = new_token()
        await store_token(conn, token, publisher=name, package=None, admin=False)
    return TokenOut(publisher=name, package=None, token=token)


async def add_key(reg: Registry, who: Principal, publisher: str, public_key: str) -> KeyOut:
    who.require_admin()
    async with reg.db.writing() as conn:
        if not await _publisher_exists(conn, publisher):
            raise NotFound(f"no publisher {publisher!r}")
        return await _add_key(conn, publisher, public_key)


async def create_token(
    reg: Registry, who: Principal, publisher: str, package: str | None
) -> TokenOut:
    who.require_admin()
    token = new_token()
    async with reg.db.writing() as conn:
        if not await _publisher_exists(conn, publisher):
            raise NotFound(f"no publisher {publisher!r}")
        await store_token(conn, token, publisher=publisher, package=package, admin=False)
    return TokenOut(publisher=publisher, package=package, token=token)


async def _publisher_key(conn: AsyncConnection, publisher: str, public_key: str) -> str:
    kid = signing.key_id(public_key)
    row = (
        await conn.execute(select(publisher_keys.c.publisher).where(publisher_keys.c.key_id == kid))
    ).first()
    if row is None or row.publisher != publisher:
        raise SignatureInvalid(
            f"the signing key is not a key of publisher {publisher!r}", code="key_unknown"
        )
    return kid


def _inspect(
    reg: Registry, data: bytes, doc: signing.SignatureDoc
) -> tuple[list[signing.ManifestEntry], skillmd.SkillInfo]:
    """Unpack into scratch (a worker thread: this is disk and CPU work), check, clean up."""
    work = Path(tempfile.mkdtemp(prefix="publish-", dir=reg.scratch))
    try:
        archives.unpack(data, work / "pkg", reg.limits)
        manifest = signing.manifest(work / "pkg")
        signing.verify(manifest, doc)
        return manifest, skillmd.read(work / "pkg")
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def publish(
    reg: Registry, who: Principal, data: bytes, signature: str, publisher: str | None
) -> tuple[str, str]:
    """Check, store and log one version; (name, version)."""
    publisher = publisher or who.publisher
    if not publisher:
        raise BadRequest("an admin publishes with ?publisher=NAME", code="publisher_required")
    doc = signing.parse_signature(signature)
    fmt = archives.archive_format(data)
    manifest, info = await asyncio.to_thread(_inspect, reg, data, doc)
    semver.parse(info.version)
    who.may_publish(publisher, info.name)
    async with reg.db.writing() as conn:
        kid = await _publisher_key(conn, publisher, doc.public_key)
        owner = (
            await conn.execute(
                select(versions.c.publisher).where(versions.c.package == info.name).limit(1)
            )
        ).first()
        if owner is not None and owner.publisher != publisher:
            raise Conflict(f"package {info.name!r} belongs to another publisher", code="name_taken")
        exists = await conn.execute(
            select(versions.c.digest).where(
                versions.c.package == info.name, versions.c.version == info.version
            )
        )
        if exists.first() is not None:
            raise Conflict(
                f"{info.name} {info.version} is already published; versions are immutable",
                code="version_exists",
            )
        digest = reg.blobs.put(data)
        index = await _append(
            conn,
            {
                "type": "publish",
                "package": info.name,
                "version": info.version,
                "digest": digest,
                "publisher": publisher,
                "key_id": kid,
                "signature": doc.signature,
            },
        )
        await conn.execute(
            versions.insert().values(
                package=info.name,
                version=info.version,
                publisher=publisher,
                digest=digest,
                size=len(data),
                archive_format=fmt,
                description=info.description,
                tags=json.dumps(info.tags),
                permissions=json.dumps(info.permissions),
                manifest=json.dumps([m.model_dump() for m in manifest]),
                key_id=kid,
                signature=doc.signature,
                log_index=index,
                yanked=False,
                yank_reason=None,
                created_at=now(),
            )
        )
    return info.name, info.version


async def yank(reg: Registry, who: Principal, name: str, version: str, reason: str) -> None:
    """Hide a version from resolution (it stays downloadable by exact version and digest)."""
    async with reg.db.writing() as conn:
        row = (
            await conn.execute(
                select(versions.c.publisher, versions.c.yanked).where(
                    versions.c.package == name, versions.c.version == version
                )
            )
        ).first()
        if row is None:
            raise NotFound(f"no version {name} {version}")
        who.may_publish(row.publisher, name)
        if row.yanked:
            raise Conflict(f"{name} {version} is already yanked", code="already_yanked")
        await _append(conn, {"type": "yank", "package": name, "version": version, "reason": reason})
        await conn.execute(
            versions.update()
            .where(versions.c.package == name, versions.c.version == version)
            .values(yanked=True, yank_reason=reason)
        )
