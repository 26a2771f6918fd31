"""The secret store on real SQLite and PostgreSQL: sealed values, audited changes, a key
file that stays private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from nexflow_control.audit import AuditFilter, AuditLog, query
from nexflow_control.db import Database
from nexflow_control.errors import Conflict, InvalidInput, NotFound
from nexflow_control.secrets import (
    KeyFileError,
    SealBroken,
    SecretBox,
    SecretStore,
    SecretsUnavailable,
    load_or_create_key,
)
from nexflow_control.secrets.models import secrets as table
from sqlalchemy import select, update

VALUE = "Rk3mW8qZ1xLt5vNb"


async def _rows(store: SecretStore) -> list[tuple[str, int, bytes, bytes]]:
    async with store.db.engine.connect() as conn:
        rows = await conn.execute(
            select(table.c.name, table.c.version, table.c.nonce, table.c.sealed)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_values_are_sealed_and_reveal_only_what_is_asked(parts):
    """The table holds no plaintext; `reveal` gives the asked names and lists the missing."""
    store, _ = parts
    await store.create("github_token", VALUE, "admin")
    await store.create("other", "another-value", "admin")
    rows = await _rows(store)
    assert all(VALUE.encode() not in sealed for _, _, _, sealed in rows)
    revealed, missing = await store.reveal(["github_token", "absent"])
    assert [(r.name, r.version, r.value) for r in revealed] == [("github_token", 1, VALUE)]
    assert missing == ["absent"]


async def test_changes_are_audited_without_values(parts):
    """create, rotate and delete each leave one `secret.*` event naming the secret and its
    version, never the value."""
    store, audit = parts
    await store.create("smtp_password", VALUE, "alice")
    info = await store.rotate("smtp_password", VALUE + "2", "bob")
    assert info.version == 2 and info.updated_by == "bob"
    await store.delete("smtp_password", "carol")
    page = await query(audit, AuditFilter(), limit=10)
    events = [(r.action, r.actor, r.payload) for r in reversed(page.records)]
    assert events == [
        ("secret.created", "alice", {"name": "smtp_password", "version": 1}),
        ("secret.rotated", "bob", {"name": "smtp_password", "version": 2}),
        ("secret.deleted", "carol", {"name": "smtp_password", "version": None}),
    ]
    assert VALUE not in repr(page.records)


async def test_bad_input_is_refused_and_loses_nothing(parts):
    """Bad names and values are 422 with stable codes; a taken name is 409, an unknown
    one 404; the stored secret is unchanged after each."""
    store, _ = parts
    await store.create("kept", VALUE, "admin")
    for name in ("Kept", "1kept", "", "a" * 64, "with-dash"):
        with pytest.raises(InvalidInput) as bad:
            await store.create(name, VALUE, "admin")
        assert bad.value.code == "invalid_secret_name"
    for value in ("", "nul\x00inside", "x" * (64 * 1024 + 1)):
        with pytest.raises(InvalidInput) as bad:
            await store.rotate("kept", value, "admin")
        assert bad.value.code == "invalid_secret_value"
    with pytest.raises(Conflict) as taken:
        await store.create("kept", "new-value", "admin")
    assert taken.value.code == "secret_exists"
    with pytest.raises(NotFound):
        await store.rotate("unknown", "v-value", "admin")
    with pytest.raises(NotFound):
        await store.delete("unknown", "admin")
    revealed, _ = await store.reveal(["kept"])
    assert [(r.version, r.value) for r in revealed] == [(1, VALUE)]


async def test_a_sealed_value_is_bound_to_its_name_and_version(parts):
    """A ciphertext copied to another name, or an old version put back, does not open."""
    store, _ = parts
    await store.create("first", VALUE, "admin")
    await store.create("second", "second-value", "admin")
    old = {name: (nonce, sealed) for name, _, nonce, sealed in await _rows(store)}
    async with store.db.writing() as conn:
        nonce, sealed = old["first"]
        await conn.execute(
            update(table).where(table.c.name == "second").values(nonce=nonce, sealed=sealed)
        )
    with pytest.raises(SecretsUnavailable, match="does not open") as moved:
        await store.reveal(["second"])
    assert moved.value.code == "secrets_unavailable"
    await store.rotate("first", "rotated-value", "admin")
    async with store.db.writing() as conn:
        nonce, sealed = old["first"]
        await conn.execute(
            update(table).where(table.c.name == "first").values(nonce=nonce, sealed=sealed)
        )
    with pytest.raises(SecretsUnavailable, match="does not open"):
        await store.reveal(["first"])


def test_key_file_is_created_private_and_reused(tmp_path: Path):
    """The key file is created 0600 in a 0700 folder, reused as is, and refused when it
    is open to others or malformed."""
    path = tmp_path / "home" / "keys" / "secrets.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_key(path) == key and len(key) == 32
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="open to others"):
        load_or_create_key(path)
    os.chmod(path, 0o600)
    path.write_text("not hex\n")
    with pytest.raises(KeyFileError, match="32-byte"):
        load_or_create_key(path)


def test_another_key_does_not_open_a_value():
    """A value sealed with one key does not open with another."""
    nonce, sealed = SecretBox(b"k" * 32).seal("name", 1, VALUE)
    assert SecretBox(b"k" * 32).open("name", 1, nonce, sealed) == VALUE
    with pytest.raises(SealBroken):
        SecretBox(b"j" * 32).open("name", 1, nonce, sealed)


async def test_store_refuses_to_open_with_a_shared_key_file(tmp_path: Path, db_url: str):
    """A key file readable by others stops the store from opening (503 secrets_unavailable)."""
    path = tmp_path / "k" / "secrets.key"
    load_or_create_key(path)
    os.chmod(path, 0o640)
    db = await Database.open(db_url)
    try:
        with pytest.raises(SecretsUnavailable):
            SecretStore.open(db, AuditLog(db), path)
    finally:
        await db.close()


async def test_a_second_control_plane_sees_rotation_and_removal_at_once(
    parts, db_url: str, tmp_path: Path
):
    """Two control planes on one database (two engines, two raw readers): a rotation or a
    removal by one is what the other's very next reveal gets; nothing is cached. The
    engine path (`raw_driver=False`) agrees with the raw one at every step."""
    first, _ = parts
    db = await Database.open(db_url)
    audit = AuditLog(db)
    key = tmp_path / "home" / "keys" / "secrets.key"
    second = SecretStore.open(db, audit, key)
    engine = SecretStore.open(db, audit, key, raw_driver=False)
    assert {type(s._raw).__name__ for s in (first, second)} <= {"SqliteReads", "PgReads"}
    try:

        async def seen() -> list[tuple[str, int, str]]:
            got = []
            for store in (first, second, engine):
                revealed, missing = await store.reveal(["api_token"])
                got.append([(r.name, r.version, r.value) for r in revealed] or missing)
            assert got[0] == got[1] == got[2], got
            return got[0]  # type: ignore[return-value]

        await first.create("api_token", VALUE, "admin")
        assert await seen() == [("api_token", 1, VALUE)]
        await second.rotate("api_token", "rotated-once", "admin")
        assert await seen() == [("api_token", 2, "rotated-once")]
        await first.rotate("api_token", "rotated-twice", "admin")
        assert await seen() == [("api_token", 3, "rotated-twice")]
        await second.delete("api_token", "admin")
        assert await seen() == ["api_token"]
    finally:
        await second.close()
        await engine.close()
        await audit.close()
        await db.close()


async def test_an_unreadable_table_is_secrets_unavailable(parts, backend: str, tmp_path: Path):
    """The raw reader fails like the engine did: a database whose secrets table is gone is
    `secrets_unavailable` (503), naming only the error's type; the next read after the
    table is back works (the failed connection was replaced)."""
    store, _ = parts
    await store.create("api_token", VALUE, "admin")
    async with store.db.writing() as conn:
        await conn.exec_driver_sql("ALTER TABLE secrets RENAME TO secrets_away")
    with pytest.raises(SecretsUnavailable) as gone:
        await store.reveal(["api_token"])
    assert gone.value.code == "secrets_unavailable" and VALUE not in str(gone.value)
    async with store.db.writing() as conn:
        await conn.exec_driver_sql("ALTER TABLE secrets_away RENAME TO secrets")
    revealed, _ = await store.reveal(["api_token"])
    assert [r.value for r in revealed] == [VALUE]
