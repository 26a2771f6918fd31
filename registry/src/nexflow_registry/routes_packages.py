"""Publishers, packages, versions and archives over HTTP."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from . import publishing, queries
from .auth import Principal, authenticate
from .context import Registry
from .errors import BadRequest, NotFound
from .models import (
    KeyIn,
    KeyOut,
    PackageOut,
    PublisherIn,
    SearchOut,
    TokenIn,
    TokenOut,
    VersionOut,
    YankIn,
)

router = APIRouter(prefix="/api/v1")


def registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


async def principal(
    reg: Annotated[Registry, Depends(registry)],
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    return await authenticate(reg.db, authorization)


Reg = Annotated[Registry, Depends(registry)]
Who = Annotated[Principal, Depends(principal)]


@router.post("/publishers", status_code=201)
async def create_publisher(body: PublisherIn, reg: Reg, who: Who) -> TokenOut:
    """Create a publisher with its first signing key (admin); returns a publish token."""
    return await publishing.create_publisher(reg, who, body.name, body.public_key)


@router.post("/publishers/{name}/keys", status_code=201)
async def add_key(name: str, body: KeyIn, reg: Reg, who: Who) -> KeyOut:
    """Register another signing key for a publisher (admin); logged."""
    return await publishing.add_key(reg, who, name, body.public_key)


@router.post("/publishers/{name}/tokens", status_code=201)
async def create_token(name: str, body: TokenIn, reg: Reg, who: Who) -> TokenOut:
    """A publish token for a publisher, optionally scoped to one package (admin)."""
    return await publishing.create_token(reg, who, name, body.package)


async def _body(request: Request, limit: int) -> bytes:
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
    reg: Reg,
    who: Who,
    x_nexflow_signature: Annotated[str, Header()],
    publisher: Annotated[str | None, Query()] = None,
) -> VersionOut:
    """Publish: the body is the archive (.tar.gz or .zip), the header its signature document."""
    data = await _body(request, reg.limits.max_total_bytes)
    name, version = await publishing.publish(reg, who, data, x_nexflow_signature, publisher)
    return await queries.version(reg.db, name, version)


@router.get("/packages")
async def search(reg: Reg, q: Annotated[str, Query(max_length=200)] = "") -> SearchOut:
    """Search packages by name, tag and description text."""
    return await queries.search(reg.db, q)


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


async def _archive(reg: Registry, digest: str) -> Response:
    return Response(
        await asyncio.to_thread(reg.blobs.get, digest),
        media_type="application/octet-stream",
        headers={"X-Nexflow-Digest": f"sha256:{digest}"},
    )


@router.get("/packages/{name}/{version}/archive")
async def archive(name: str, version: str, reg: Reg) -> Response:
    """The archive of an exact version (yanked ones too), checked against its digest."""
    found = await queries.version(reg.db, name, version)
    return await _archive(reg, found.digest)


@router.get("/blobs/{digest}")
async def blob(digest: str, reg: Reg) -> Response:
    """An archive by its sha256, checked on read (`blob_corrupt` if the stored bytes changed)."""
    if not await queries.known_digest(reg.db, digest):
        raise NotFound(f"no blob {digest[:80]!r}", code="blob_not_found")
    return await _archive(reg, digest)
