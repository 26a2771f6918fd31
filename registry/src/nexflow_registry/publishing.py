"""Publishing and yanking. A version is unpacked safely, its signature checked against the
files, scanned (a `block` verdict refuses it with `scan_blocked` and its findings), held
for review when its new name looks like another publisher's package, then stored and
appended to the transparency log in one transaction."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from . import archives, names, semver, signing, skillmd
from .auth import Principal, now
from .context import Registry
from .db import name_reviews, versions
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .events import append
from .keys import active_key, require_publisher
from .scan import Requests, ScanReport, requests, scan_folder


@dataclass(frozen=True)
class Inspected:
    data: bytes
    fmt: str
    manifest: list[signing.ManifestEntry]
    info: skillmd.SkillInfo
    scan: ScanReport
    requests: Requests


@dataclass(frozen=True)
class Published:
    name: str
    version: str
    held: bool


def inspect(
    reg: Registry,
    data: bytes,
    doc: signing.SignatureDoc | None,
    identity: tuple[str, str] | None = None,
) -> Inspected:
    """Unpack into scratch, check the signature (when signed), read SKILL.md (`identity`
    gives name and version for a ClawHub upload, whose SKILL.md may lack them), scan; a
    worker-thread function (disk and CPU), scratch cleaned up."""
    fmt = archives.archive_format(data)
    work = Path(tempfile.mkdtemp(prefix="publish-", dir=reg.scratch))
    try:
        archives.unpack(data, work / "pkg", reg.limits)
        manifest = signing.manifest(work / "pkg")
        if doc is not None:
            signing.verify(manifest, doc)
        info = skillmd.read(work / "pkg", identity)
        semver.parse(info.version)
        report = scan_folder(work / "pkg", manifest)
        asked = requests(work / "pkg")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if report.verdict == "block":
        first = report.blocking()[0]
        raise BadRequest(
            f"the scan blocked this package: {first.file}:{first.line}: {first.message} "
            f"[{first.rule}] ({len(report.blocking())} blocking finding(s))",
            code="scan_blocked",
            extra={"findings": [f.model_dump() for f in report.findings]},
        )
    return Inspected(data, fmt, manifest, info, report, asked)


async def _review(conn: AsyncConnection, name: str, publisher: str) -> str | None:
    """The name's review status; a first version of a lookalike name opens a `held` one."""
    row = (
        await conn.execute(select(name_reviews.c.status).where(name_reviews.c.package == name))
    ).first()
    if row is not None:
        if row.status == "rejected":
            raise Forbidden(f"the name {name!r} was rejected by an admin", code="name_rejected")
        return str(row.status)
    others = (
        await conn.execute(
            select(versions.c.package).where(versions.c.publisher != publisher).distinct()
        )
    ).scalars()
    close = names.lookalikes(name, list(others))
    if not close:
        return None
    await conn.execute(
        name_reviews.insert().values(
            package=name,
            publisher=publisher,
            similar_to=json.dumps(close),
            status="held",
            created_at=now(),
        )
    )
    await append(
        conn, {"type": "name_held", "package": name, "publisher": publisher, "similar_to": close}
    )
    return "held"


async def store(
    reg: Registry,
    publisher: str,
    done: Inspected,
    doc: signing.SignatureDoc | None,
    changelog: str = "",
) -> Published:
    """Store and log an inspected version, signed by `doc` (checked against the files
    already; its key must be an active key of `publisher`), or None for an unsigned
    (ClawHub) publish."""
    info = done.info
    async with reg.db.writing() as conn:
        await require_publisher(conn, publisher)
        kid = await active_key(conn, publisher, doc.public_key) if doc is not None else ""
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
        review = await _review(conn, info.name, publisher)
        sig = doc.signature if doc is not None else ""
        digest = reg.blobs.put(done.data)
        index = await append(
            conn,
            {
                "type": "publish",
                "package": info.name,
                "version": info.version,
                "digest": digest,
                "publisher": publisher,
                "key_id": kid,
                "signature": sig,
                "scan": done.scan.verdict,
            },
        )
        await conn.execute(
            versions.insert().values(
                package=info.name,
                version=info.version,
                publisher=publisher,
                digest=digest,
                size=len(done.data),
                archive_format=done.fmt,
                description=info.description,
                tags=json.dumps(info.tags),
                permissions=json.dumps(info.permissions),
                manifest=json.dumps([m.model_dump() for m in done.manifest]),
                key_id=kid,
                signature=sig,
                log_index=index,
                yanked=False,
                yank_reason=None,
                created_at=now(),
                scan_verdict=done.scan.verdict,
                scan_findings=json.dumps([f.model_dump() for f in done.scan.findings]),
                signed=doc is not None,
                changelog=changelog,
                removed=False,
                requests=done.requests.model_dump_json(),
            )
        )
    return Published(info.name, info.version, review == "held")


async def publish(
    reg: Registry, who: Principal, data: bytes, signature: str, publisher: str | None
) -> Published:
    """Check, scan, store and log one signed version."""
    publisher = publisher or who.publisher
    if not publisher:
        raise BadRequest("an admin publishes with ?publisher=NAME", code="publisher_required")
    doc = signing.parse_signature(signature)
    done = await asyncio.to_thread(inspect, reg, data, doc)
    who.may_publish(publisher, done.info.name)
    return await store(reg, publisher, done, doc)


async def _version_row(conn: AsyncConnection, name: str, version: str, *columns: str) -> Any:
    """The `columns` of one version; `NotFound` if there is no such version."""
    row = (
        await conn.execute(
            select(*(versions.c[c] for c in columns)).where(
                versions.c.package == name, versions.c.version == version
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"no version {name} {version}")
    return row


async def yank(reg: Registry, who: Principal, name: str, version: str, reason: str) -> None:
    """Hide a version from resolution (it stays downloadable by exact version and digest)."""
    async with reg.db.writing() as conn:
        row = await _version_row(conn, name, version, "publisher", "yanked")
        who.may_publish(row.publisher, name)
        if row.yanked:
            raise Conflict(f"{name} {version} is already yanked", code="already_yanked")
        await append(conn, {"type": "yank", "package": name, "version": version, "reason": reason})
        await conn.execute(
            versions.update()
            .where(versions.c.package == name, versions.c.version == version)
            .values(yanked=True, yank_reason=reason)
        )


async def attach_signature(
    reg: Registry, who: Principal, name: str, version: str, signature: str
) -> None:
    """Sign an unsigned (ClawHub) version after the fact: the signature must cover its
    stored manifest, by an active key of its publisher; logged."""
    doc = signing.parse_signature(signature)
    async with reg.db.writing() as conn:
        row = await _version_row(conn, name, version, "publisher", "signed", "manifest")
        who.may_publish(row.publisher, name)
        if row.signed:
            raise Conflict(f"{name} {version} is already signed", code="already_signed")
        manifest = [signing.ManifestEntry.model_validate(m) for m in json.loads(row.manifest)]
        signing.verify(manifest, doc)
        kid = await active_key(conn, row.publisher, doc.public_key)
        await append(
            conn,
            {
                "type": "signature_attached",
                "package": name,
                "version": version,
                "key_id": kid,
                "signature": doc.signature,
            },
        )
        await conn.execute(
            versions.update()
            .where(versions.c.package == name, versions.c.version == version)
            .values(signed=True, key_id=kid, signature=doc.signature)
        )
