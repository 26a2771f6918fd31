"""A publisher's signing keys over HTTP, for clients that pin them (trust on first use).

The answer is not trusted as such: a client checks that each key's id is the SHA-256 of the
key it is given, and that the id is the one the publish entry in the log names.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from .db import publisher_keys
from .errors import NotFound
from .routes_packages import Reg

router = APIRouter(prefix="/api/v1")


class PublisherKey(BaseModel):
    key_id: str
    public_key: str
    """base64 of the raw ed25519 public key"""
    created_at: str


class PublisherKeysOut(BaseModel):
    publisher: str
    keys: list[PublisherKey]


@router.get("/publishers/{name}/keys")
async def keys(name: str, reg: Reg) -> PublisherKeysOut:
    """Every signing key registered for publisher `name`, oldest first."""
    async with reg.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(publisher_keys)
                .where(publisher_keys.c.publisher == name)
                .order_by(publisher_keys.c.created_at, publisher_keys.c.key_id)
            )
        ).all()
    if not rows:
        raise NotFound(f"no publisher {name!r}", code="publisher_not_found")
    return PublisherKeysOut(
        publisher=name,
        keys=[
            PublisherKey(key_id=r.key_id, public_key=r.public_key, created_at=r.created_at)
            for r in rows
        ],
    )
