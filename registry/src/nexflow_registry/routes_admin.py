"""Publishers, keys, tokens, lookalike reviews and `whoami` over HTTP."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from . import keys, moderation
from .deps import Reg, Who
from .models import (
    KeyIn,
    KeyOut,
    LoggedOut,
    PublisherIn,
    PublisherOut,
    ReasonIn,
    ReviewOut,
    RotateIn,
    TokenIn,
    TokenOut,
    WhoamiOut,
    WhoamiUser,
)

router = APIRouter(prefix="/api/v1")


@router.post("/publishers", status_code=201)
async def create_publisher(body: PublisherIn, reg: Reg, who: Who) -> TokenOut:
    """Create a publisher with its first signing key (admin); returns a publish token."""
    return await keys.create_publisher(reg, who, body.name, body.public_key)


@router.get("/publishers/{name}")
async def publisher(name: str, reg: Reg) -> PublisherOut:
    """A publisher and its keys with their status (active, rotated, revoked)."""
    return await keys.publisher(reg, name)


@router.post("/publishers/{name}/keys", status_code=201)
async def add_key(name: str, body: KeyIn, reg: Reg, who: Who) -> KeyOut:
    """Register another signing key for a publisher (admin); logged."""
    return await keys.add_key(reg, who, name, body.public_key)


@router.post("/publishers/{name}/keys/rotate", status_code=201)
async def rotate_key(name: str, body: RotateIn, reg: Reg, who: Who) -> KeyOut:
    """Hand the publisher over to a new key, signed by the old one (admin or the publisher)."""
    return await keys.rotate_key(
        reg, who, name, body.old_key_id, body.new_public_key, body.signature
    )


@router.post("/publishers/{name}/keys/{key_id}/revoke")
async def revoke_key(name: str, key_id: str, body: ReasonIn, reg: Reg, who: Who) -> LoggedOut:
    """Revoke a key with a reason (admin or the publisher); logged."""
    return LoggedOut(log_index=await keys.revoke_key(reg, who, name, key_id, body.reason))


@router.post("/publishers/{name}/tokens", status_code=201)
async def create_token(name: str, body: TokenIn, reg: Reg, who: Who) -> TokenOut:
    """A publish token for a publisher, optionally scoped to one package (admin)."""
    return await keys.create_token(reg, who, name, body.package)


@router.get("/admin/reviews")
async def reviews(
    reg: Reg, who: Who, status: Annotated[str | None, Query(max_length=16)] = None
) -> list[ReviewOut]:
    """Names held as lookalikes (and decided ones) for the admin."""
    return await moderation.reviews(reg, who, status)


async def _decide(
    reg: Reg, who: Who, name: str, verdict: Literal["approve", "reject"], reason: str | None
) -> ReviewOut:
    return await moderation.decide(reg, who, name, verdict == "approve", reason)


@router.post("/admin/reviews/{name}/approve")
async def approve(name: str, reg: Reg, who: Who) -> ReviewOut:
    """Let a held name resolve (admin); logged."""
    return await _decide(reg, who, name, "approve", None)


@router.post("/admin/reviews/{name}/reject")
async def reject(name: str, body: ReasonIn, reg: Reg, who: Who) -> ReviewOut:
    """Refuse a held name for good, with a reason (admin); logged."""
    return await _decide(reg, who, name, "reject", body.reason)


@router.get("/whoami")
async def whoami(who: Who) -> WhoamiOut:
    """The caller's token: admin, or a publisher (ClawHub reads `user.handle`)."""
    handle = who.publisher or "admin"
    return WhoamiOut(
        user=WhoamiUser(handle=handle, displayName=handle, role="admin" if who.admin else "user"),
        admin=who.admin,
        publisher=who.publisher,
        package=who.package,
    )
