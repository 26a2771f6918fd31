"""Publishers, their signing keys and tokens. Creating a publisher and every key change
(added, rotated — signed by the old key —, revoked) is appended to the transparency log in
the same transaction as the row it describes, so a client can audit which keys a
publisher had when."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from . import signing
from .auth import Principal, new_token, now, store_token
from .context import Registry
from .db import publisher_keys, publishers
from .errors import Conflict, Forbidden, NotFound, SignatureInvalid
from .events import append
from .models import KeyOut, PublisherKeyOut, PublisherOut, TokenOut


async def _insert_key(
    conn: AsyncConnection, publisher: str, public_key: str, event: dict[str, object]
) -> KeyOut:
    """Register `public_key` for `publisher`; `event` (its type and any extra fields) is
    logged with the key, and the key's `log_index` is that entry's."""
    signing.load_public(public_key)
    kid = signing.key_id(public_key)
    if (
        await conn.execute(select(publisher_keys.c.key_id).where(publisher_keys.c.key_id == kid))
    ).first():
        raise Conflict("this key is already registered", code="key_exists")
    index = await append(
        conn, {**event, "publisher": publisher, "key_id": kid, "public_key": public_key}
    )
    await conn.execute(
        publisher_keys.insert().values(
            key_id=kid,
            publisher=publisher,
            public_key=public_key,
            created_at=now(),
            status="active",
            log_index=index,
        )
    )
    return KeyOut(publisher=publisher, key_id=kid, log_index=index)


async def _add_key(conn: AsyncConnection, publisher: str, public_key: str) -> KeyOut:
    return await _insert_key(conn, publisher, public_key, {"type": "key_added"})


async def _publisher_exists(conn: AsyncConnection, name: str) -> bool:
    return (
        await conn.execute(select(publishers.c.name).where(publishers.c.name == name))
    ).first() is not None


async def require_publisher(conn: AsyncConnection, name: str) -> None:
    if not await _publisher_exists(conn, name):
        raise NotFound(f"no publisher {name!r}", code="publisher_not_found")


def _may_manage_keys(who: Principal, publisher: str) -> None:
    """The admin, or an unscoped token of `publisher` itself."""
    if who.admin:
        return
    if who.publisher != publisher or who.package is not None:
        raise Forbidden(f"only the admin or {publisher!r}'s own token manages its keys")


async def create_publisher(reg: Registry, who: Principal, name: str, public_key: str) -> TokenOut:
    """A new publisher with its first key; a publish token for it."""
    who.require_admin()
    async with reg.db.writing() as conn:
        if await _publisher_exists(conn, name):
            raise Conflict(f"publisher {name!r} exists", code="publisher_exists")
        await conn.execute(publishers.insert().values(name=name, created_at=now()))
        await append(conn, {"type": "publisher_created", "publisher": name})
        await _add_key(conn, name, public_key)
        token = new_token()
        await store_token(conn, token, publisher=name, package=None, admin=False)
    return TokenOut(publisher=name, package=None, token=token)


async def add_key(reg: Registry, who: Principal, publisher: str, public_key: str) -> KeyOut:
    who.require_admin()
    async with reg.db.writing() as conn:
        await require_publisher(conn, publisher)
        return await _add_key(conn, publisher, public_key)


async def _key_row(conn: AsyncConnection, publisher: str, kid: str) -> str:
    row = (
        await conn.execute(
            select(publisher_keys.c.status).where(
                publisher_keys.c.key_id == kid, publisher_keys.c.publisher == publisher
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"publisher {publisher!r} has no key {kid[:80]!r}", code="key_unknown")
    return str(row.status)


async def _set_status(conn: AsyncConnection, kid: str, status: str, reason: str | None) -> None:
    await conn.execute(
        publisher_keys.update()
        .where(publisher_keys.c.key_id == kid)
        .values(status=status, status_reason=reason)
    )


async def rotate_key(
    reg: Registry, who: Principal, publisher: str, old_kid: str, new_public: str, signature: str
) -> KeyOut:
    """Replace an active key by a new one, the change signed by the old key over
    `signing.rotation_message`; the old key signs no new version (`rotated`), the versions it
    signed stay valid. One `key_rotated` entry (old and new key id, new key, signature) is
    the new key's `log_index`: a client that pinned the old key checks it itself."""
    _may_manage_keys(who, publisher)
    async with reg.db.writing() as conn:
        await require_publisher(conn, publisher)
        if await _key_row(conn, publisher, old_kid) != "active":
            raise Conflict(f"key {old_kid} is not active", code="key_not_active")
        old_public = (
            await conn.execute(
                select(publisher_keys.c.public_key).where(publisher_keys.c.key_id == old_kid)
            )
        ).scalar_one()
        if not signing.verify_rotation(old_public, publisher, new_public, signature):
            raise SignatureInvalid(
                "the rotation is not signed by the old key", code="rotation_signature_invalid"
            )
        added = await _insert_key(
            conn,
            publisher,
            new_public,
            {"type": "key_rotated", "old_key_id": old_kid, "signature": signature},
        )
        await _set_status(conn, old_kid, "rotated", f"rotated to {added.key_id}")
    return added


async def revoke_key(reg: Registry, who: Principal, publisher: str, kid: str, reason: str) -> int:
    """Mark a key revoked (clients should distrust what it signed); the log index."""
    _may_manage_keys(who, publisher)
    async with reg.db.writing() as conn:
        if await _key_row(conn, publisher, kid) == "revoked":
            raise Conflict(f"key {kid} is already revoked", code="key_revoked")
        await _set_status(conn, kid, "revoked", reason)
        return await append(
            conn, {"type": "key_revoked", "publisher": publisher, "key_id": kid, "reason": reason}
        )


async def active_key(conn: AsyncConnection, publisher: str, public_key: str) -> str:
    """The key id of `public_key` if it is an active key of `publisher`; else refused."""
    kid = signing.key_id(public_key)
    row = (
        await conn.execute(
            select(publisher_keys.c.publisher, publisher_keys.c.status).where(
                publisher_keys.c.key_id == kid
            )
        )
    ).first()
    if row is None or row.publisher != publisher:
        raise SignatureInvalid(
            f"the signing key is not a key of publisher {publisher!r}", code="key_unknown"
        )
    if row.status != "active":
        raise SignatureInvalid(
            f"the signing key was {row.status}; sign with an active key", code=f"key_{row.status}"
        )
    return kid


async def create_token(
    reg: Registry, who: Principal, publisher: str, package: str | None
) -> TokenOut:
    who.require_admin()
    token = new_token()
    async with reg.db.writing() as conn:
        await require_publisher(conn, publisher)
        await store_token(conn, token, publisher=publisher, package=package, admin=False)
    return TokenOut(publisher=publisher, package=package, token=token)


async def publisher(reg: Registry, name: str) -> PublisherOut:
    async with reg.db.engine.connect() as conn:
        row = (await conn.execute(select(publishers).where(publishers.c.name == name))).first()
        if row is None:
            raise NotFound(f"no publisher {name!r}", code="publisher_not_found")
        keys = (
            await conn.execute(
                select(publisher_keys)
                .where(publisher_keys.c.publisher == name)
                .order_by(publisher_keys.c.created_at, publisher_keys.c.log_index)
            )
        ).all()
    return PublisherOut(
        name=name,
        created_at=row.created_at,
        keys=[
            PublisherKeyOut(
                key_id=k.key_id,
                public_key=k.public_key,
                status=k.status,
                status_reason=k.status_reason,
                created_at=k.created_at,
                log_index=k.log_index,
            )
            for k in keys
        ],
    )
