"""A publisher's signing keys over HTTP, for clients that pin them, and key rotation.

`GET /api/v1/publishers/{name}/keys` is not trusted as such: a client checks that each key's
id is the SHA-256 of the key, that a publish entry in the log names it, and for a rotated
key the `key_rotated` entry at `log_index`. `POST .../keys/rotate` (the publisher's token or
an admin) adds a key signed over by one the publisher holds (see `keyrotation`).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, String, Table, select

from . import keyrotation, signing
from .auth import now
from .db import metadata, publisher_keys
from .errors import Conflict, Forbidden, NotFound, SignatureInvalid
from .events import entry_bytes
from .routes_packages import Reg, Who
from .transparency import log

router = APIRouter(prefix="/api/v1")

key_rotations = Table(
    "key_rotations",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("publisher", String(64), nullable=False),
    Column("old_key_id", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("log_index", BigInteger, nullable=False),
)


class PublisherKey(BaseModel):
    key_id: str
    public_key: str
    """base64 of the raw ed25519 public key"""
    created_at: str
    rotated_from: str | None = None
    """the key id that signed this key over (a rotation), else None"""
    log_index: int | None = None
    """the `key_rotated` log entry of a rotation"""


class PublisherKeysOut(BaseModel):
    publisher: str
    keys: list[PublisherKey]


class RotateIn(BaseModel):
    public_key: str = Field(max_length=100)
    old_key_id: str = Field(max_length=64)
    signature: str = Field(max_length=200)
    """base64: the old key's signature over `keyrotation.statement(publisher, new key id)`"""


@router.get("/publishers/{name}/keys")
async def keys(name: str, reg: Reg) -> PublisherKeysOut:
    """Every signing key registered for publisher `name`, oldest first."""
    stmt = (
        select(publisher_keys, key_rotations.c.old_key_id, key_rotations.c.log_index)
        .outerjoin(key_rotations, key_rotations.c.key_id == publisher_keys.c.key_id)
        .where(publisher_keys.c.publisher == name)
        .order_by(publisher_keys.c.created_at, publisher_keys.c.key_id)
    )
    async with reg.db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    if not rows:
        raise NotFound(f"no publisher {name!r}", code="publisher_not_found")
    return PublisherKeysOut(
        publisher=name,
        keys=[
            PublisherKey(
                key_id=r.key_id,
                public_key=r.public_key,
                created_at=r.created_at,
                rotated_from=r.old_key_id,
                log_index=r.log_index,
            )
            for r in rows
        ],
    )


@router.post("/publishers/{name}/keys/rotate", status_code=201)
async def rotate(name: str, body: RotateIn, reg: Reg, who: Who) -> PublisherKey:
    """Add a key that an existing key of the publisher signed over; logged as `key_rotated`."""
    if not who.admin and (who.publisher != name or who.package is not None):
        raise Forbidden(f"this token cannot rotate the keys of {name!r}")
    signing.load_public(body.public_key)
    kid = signing.key_id(body.public_key)
    async with reg.db.writing() as conn:
        old = (
            await conn.execute(
                select(publisher_keys.c.public_key).where(
                    publisher_keys.c.key_id == body.old_key_id,
                    publisher_keys.c.publisher == name,
                )
            )
        ).first()
        if old is None:
            raise NotFound(f"{name!r} holds no key {body.old_key_id[:16]!r}", code="key_unknown")
        if not keyrotation.verifies(old.public_key, name, body.public_key, body.signature):
            raise SignatureInvalid("the old key did not sign this rotation")
        taken = select(publisher_keys.c.key_id).where(publisher_keys.c.key_id == kid)
        if (await conn.execute(taken)).first():
            raise Conflict("this key is already registered", code="key_exists")
        at = now()
        await conn.execute(
            publisher_keys.insert().values(
                key_id=kid, publisher=name, public_key=body.public_key, created_at=at
            )
        )
        event = {
            "type": "key_rotated",
            "publisher": name,
            "old_key_id": body.old_key_id,
            "key_id": kid,
            "public_key": body.public_key,
            "signature": body.signature,
            "time": at,
        }
        index = await log.append(conn, [entry_bytes(event)])
        await conn.execute(
            key_rotations.insert().values(
                key_id=kid,
                publisher=name,
                old_key_id=body.old_key_id,
                signature=body.signature,
                log_index=index,
            )
        )
    return PublisherKey(
        key_id=kid,
        public_key=body.public_key,
        created_at=at,
        rotated_from=body.old_key_id,
        log_index=index,
    )
