"""The routes the `clawhub` CLI (0.23.x) calls, so `clawhub --registry URL` can search,
inspect, install, publish and `whoami` against this registry (`whoami` is in
routes_admin). Errors keep the registry's `{"error", "message"}` body; the CLI prints it."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from . import clawhub_publish, clawhub_views
from .clawhub_models import (
    ClawPublishIn,
    ClawPublishOut,
    ListOut,
    Moderation,
    ResolveOut,
    SearchOut,
    SkillOut,
    StorageOut,
    UploadUrlIn,
    UploadUrlOut,
    VersionDetailOut,
    VersionsOut,
)
from .deps import Reg, Who
from .errors import NotFound
from .routes_packages import read_body

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/api/v1/search")
async def search(
    reg: Reg, q: Annotated[str, Query(max_length=200)] = "", limit: Limit = 25
) -> SearchOut:
    return await clawhub_views.search(reg, q, limit)


@router.get("/api/v1/skills")
async def listing(
    reg: Reg,
    prefix: Annotated[str, Query(max_length=64)] = "",
    limit: Limit = 25,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> ListOut:
    return await clawhub_views.listing(reg, prefix, limit, cursor or None)


@router.get("/api/v1/skills/{slug}")
async def skill(slug: str, reg: Reg) -> SkillOut:
    return await clawhub_views.skill(reg, slug)


@router.get("/api/v1/skills/{slug}/moderation")
async def moderation(slug: str, reg: Reg) -> dict[str, Moderation]:
    _, best = await clawhub_views.live(reg, slug)
    return {"moderation": clawhub_views.moderation(best)}


@router.get("/api/v1/skills/{slug}/versions")
async def versions(slug: str, reg: Reg, limit: Limit = 25) -> VersionsOut:
    return await clawhub_views.versions(reg, slug, limit)


@router.get("/api/v1/skills/{slug}/versions/{version}")
async def version(slug: str, version: str, reg: Reg) -> VersionDetailOut:
    return await clawhub_views.version_detail(reg, slug, version)


async def _files(reg: Reg, slug: str, version: str | None) -> dict[str, bytes]:
    row = await clawhub_views.version_row(reg, slug, version)
    data = await asyncio.to_thread(reg.blobs.get, row.digest)
    return await asyncio.to_thread(clawhub_views.unpacked_files, reg, data)


@router.get("/api/v1/skills/{slug}/file")
async def file(
    slug: str,
    reg: Reg,
    path: Annotated[str, Query(max_length=1000)],
    version: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    files = await _files(reg, slug, version)
    if path not in files:
        raise NotFound(f"{slug} has no file {path!r}", code="file_not_found")
    return Response(files[path], media_type="application/octet-stream")


@router.get("/api/v1/download")
async def download(
    reg: Reg,
    slug: Annotated[str, Query(max_length=64)],
    version: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """The version as a zip of its files (the CLI's install format), checked like any read."""
    files = await _files(reg, slug, version)
    data = await asyncio.to_thread(clawhub_views.as_zip, files)
    return Response(data, media_type="application/zip")


@router.get("/api/v1/resolve")
async def resolve(
    reg: Reg,
    slug: Annotated[str, Query(max_length=64)],
    hash: Annotated[str | None, Query(max_length=128)] = None,
) -> ResolveOut:
    return await clawhub_views.resolve(reg, slug, hash)


@router.post("/api/v1/skills/-/upload-url")
async def upload_url(body: UploadUrlIn, request: Request, reg: Reg, who: Who) -> UploadUrlOut:
    ticket = await clawhub_publish.upload_ticket(reg, who, body)
    return UploadUrlOut(
        uploadUrl=str(request.url_for("clawhub_upload", ticket=ticket)), uploadTicket=ticket
    )


@router.post("/api/v1/uploads/{ticket}", name="clawhub_upload")
async def upload(ticket: str, request: Request, reg: Reg, who: Who) -> StorageOut:
    data = await read_body(request, reg.limits.max_file_bytes)
    return StorageOut(storageId=await clawhub_publish.receive(reg, who, ticket, data))


@router.post("/api/v1/skills")
async def publish(body: ClawPublishIn, reg: Reg, who: Who) -> ClawPublishOut:
    """Publish the uploaded files as one unsigned version (see clawhub_publish)."""
    return await clawhub_publish.publish(reg, who, body)


@router.post("/api/cli/telemetry/install")
async def telemetry() -> dict[str, bool]:
    """Accepted and dropped: the registry keeps no install telemetry."""
    return {"ok": True}
