"""Publishers, packages, versions and archives over HTTP."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from . import moderation, publishing, queries
from .context import Registry
from .deps import Reg, Who
from .errors import BadRequest
from .models import LoggedOut, PackageOut, ReasonIn, SearchOut, VersionOut, YankIn

__all__ = ["Reg", "Who", "router"]

router = APIRouter(prefix="/api/v1")


async def read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise BadRequest(f"the upload is over {limit} bytes", code="archive_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/packages", status_code=201)
async def publish(
    request: Request,
    response: Response,
    reg: Reg,
    who: Who,
    x_nexflow_signature: Annotated[str, Header()],
    publisher: Annotated[str | None, Query()] = None,
) -> VersionOut:
    """Publish: the body is the archive (.tar.gz or .zip), the header its signature document.
    201, or 202 when the new name is held for an admin's review (`review: "held"`)."""
    data = await read_body(request, reg.limits.max_total_bytes)
    done = await publishing.publish(reg, who, data, x_nexflow_signature, publisher)
    if done.held:
        response.status_code = 202
    return await queries.version(reg.db, done.name, done.version)


@router.get("/packages")
async def search(
    reg: Reg,
    q: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,7}$")] = None,
) -> SearchOut:
    """Search packages by name, tag and description text (`q`), optionally only those
    carrying `tag`; a page of `limit`, the next one at `cursor` (the answer's
    `next_cursor`)."""
    return await queries.search(reg.db, q, limit, tag=tag or None, offset=int(cursor or 0))


@router.get("/packages/{name}")
async def package(name: str, reg: Reg) -> PackageOut:
    return await queries.package(reg.db, name)


@router.get("/packages/{name}/{version}")
async def version(name: str, version: str, reg: Reg) -> VersionOut:
    return await queries.version(reg.db, name, version)


@router.post("/packages/{name}/{version}/yank", status_code=204)
async def yank(name: str, version: str, body: YankIn, reg: Reg, who: Who) -> Response:
    """Hide a version from resolution, with a reason; it stays downloadable by exact version."""
    await publishing.yank(reg, who, name, version, body.reason)
    return Response(status_code=204)


@router.post("/packages/{name}/{version}/signature")
async def attach_signature(
    name: str,
    version: str,
    reg: Reg,
    who: Who,
    x_nexflow_signature: Annotated[str, Header()],
) -> VersionOut:
    """Sign an unsigned (ClawHub) version: the signature must cover its stored files."""
    await publishing.attach_signature(reg, who, name, version, x_nexflow_signature)
    return await queries.version(reg.db, name, version)


@router.post("/packages/{name}/{version}/remove")
async def remove_version(name: str, version: str, body: ReasonIn, reg: Reg, who: Who) -> LoggedOut:
    """Remove a version with a reason (admin): a tombstone stays, the blob is not served."""
    return LoggedOut(log_index=await moderation.remove(reg, who, name, version, body.reason))


@router.post("/packages/{name}/remove")
async def remove_package(name: str, body: ReasonIn, reg: Reg, who: Who) -> LoggedOut:
    """Remove every version of a package with a reason (admin)."""
    return LoggedOut(log_index=await moderation.remove(reg, who, name, None, body.reason))


async def _archive(reg: Registry, digest: str) -> Response:
    return Response(
        await asyncio.to_thread(reg.blobs.get, digest),
        media_type="application/octet-stream",
        headers={"X-Nexflow-Digest": f"sha256:{digest}"},
    )


@router.get("/packages/{name}/{version}/archive")
async def archive(name: str, version: str, reg: Reg) -> Response:
    """The archive of an exact version (yanked ones too), checked against its digest;
    `removed` (410), `held_for_review` (409) or `name_rejected` (403) when not served."""
    found = await queries.version(reg.db, name, version)
    queries.refuse_unservable(found)
    return await _archive(reg, found.digest)


@router.get("/blobs/{digest}")
async def blob(digest: str, reg: Reg) -> Response:
    """An archive by its sha256, checked on read (`blob_corrupt` if the stored bytes changed)."""
    await queries.servable_digest(reg.db, digest)
    return await _archive(reg, digest)
