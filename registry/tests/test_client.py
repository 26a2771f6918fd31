"""The verifying install client against a real registry on a real socket.

The attacker sits between them (an httpx transport that forwards to the real server and
rewrites one answer): each tampered answer must be refused with its stable code, before
anything is unpacked and without the trust store learning anything from it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from nexflow_registry import signing
from nexflow_registry.client import (
    RegistryClient,
    ReleaseNotFound,
    TrustStore,
    VerificationFailed,
    VersionTooNew,
    fetch_verified,
    parse_spec,
    unpack_verified,
    verify,
)

from registry.tests.server import Server, new_publisher, publish, skill_copy, start

Rewrite = Callable[[str, bytes], bytes]


class Tamper(httpx.AsyncBaseTransport):
    """Forward to the real registry; pass each answer's body through `rewrite(path, body)`."""

    def __init__(self, rewrite: Rewrite) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.rewrite = rewrite

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        reply = await self.inner.handle_async_request(request)
        body = self.rewrite(request.url.path, await reply.aread())
        headers = [(k, v) for k, v in reply.headers.items() if k.lower() != "content-length"]
        return httpx.Response(reply.status_code, headers=headers, content=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """A registry with publisher `acme` and `echo` 1.0.0 and 1.1.0 (1.1.0 yanked)."""
    tmp = tmp_path_factory.mktemp("registry")
    server = start(tmp / "home")
    key = tmp / "acme.key"
    token = new_publisher(server, "acme", key)
    for version in ("1.0.0", "1.1.0"):
        assert publish(server, token, skill_copy(tmp, version), key).status_code == 201
    yanked = server.client.post(
        "/api/v1/packages/echo/1.1.0/yank", json={"reason": "test"}, headers=server.auth(token)
    )
    assert yanked.status_code == 204
    yield server, key
    server.stop()


async def _fetch(
    server: Server, home: Path, spec: str = "echo", rewrite: Rewrite | None = None, **kw: float
) -> tuple[TrustStore, object]:
    trust = TrustStore.load(home)
    transport = Tamper(rewrite) if rewrite else None
    async with RegistryClient(server.url, transport=transport) as client:
        return trust, await fetch_verified(client, trust, parse_spec(spec), **kw)


async def test_a_release_proves_itself_and_unpacks(
    registry: tuple[Server, Path], tmp_path: Path
) -> None:
    """The latest release not yanked resolves, proves itself, pins the publisher and log key
    on first use, records the checkpoint and unpacks to exactly the signed files."""
    server, _ = registry
    trust, verified = await _fetch(server, tmp_path)
    assert verified.release.version == "1.0.0"  # 1.1.0 is yanked
    assert verified.first_use[0].startswith("log key") and "acme" in verified.first_use[1]
    dest = tmp_path / "out" / "echo"
    unpack_verified(verified, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["SKILL.md", "run.py"]
    trust.save()
    again = TrustStore.load(tmp_path)
    assert again.last_checkpoint(server.url).size == verified.checkpoint_size
    assert [k.how for k in again.keys(server.url, "acme")] == ["first_use"]


async def test_a_yanked_version_installs_by_exact_version_or_digest(
    registry: tuple[Server, Path], tmp_path: Path
) -> None:
    """A yanked version is hidden from resolution but installs when pinned exactly."""
    server, _ = registry
    _, by_version = await _fetch(server, tmp_path, "echo@1.1.0")
    assert by_version.release.yanked and by_version.release.version == "1.1.0"
    digest = by_version.release.digest
    _, by_digest = await _fetch(server, tmp_path, f"echo@sha256:{digest}")
    assert by_digest.release.version == "1.1.0"
    with pytest.raises(ReleaseNotFound):
        await _fetch(server, tmp_path, "echo@9.9.9")


async def test_the_cooldown_refuses_young_versions_unless_pinned(
    registry: tuple[Server, Path], tmp_path: Path
) -> None:
    """With a cooldown, a version younger than N hours is refused (`version_too_new`) unless
    pinned exactly; once old enough it resolves."""
    server, _ = registry
    with pytest.raises(VersionTooNew):
        await _fetch(server, tmp_path, min_age_hours=1)
    _, pinned = await _fetch(server, tmp_path, "echo@1.0.0", min_age_hours=1)
    assert pinned.release.version == "1.0.0"
    later = datetime.now(UTC) + timedelta(hours=2)
    trust = TrustStore.load(tmp_path)
    async with RegistryClient(server.url) as client:
        old_enough = await fetch_verified(
            client, trust, parse_spec("echo"), min_age_hours=1, now=later
        )
    assert old_enough.release.version == "1.0.0"


def _flip_archive(path: str, body: bytes) -> bytes:
    if path.endswith("/archive"):
        return body[:-1] + bytes([body[-1] ^ 1])
    return body


def _json_edit(suffix: str, edit: Callable[[dict[str, object]], None]) -> Rewrite:
    def rewrite(path: str, body: bytes) -> bytes:
        if not path.endswith(suffix):
            return body
        doc = json.loads(body)
        edit(doc)
        return json.dumps(doc).encode()

    return rewrite


def _other_manifest(doc: dict[str, object]) -> None:
    manifest = doc["manifest"]
    assert isinstance(manifest, list)
    manifest[0]["sha256"] = "0" * 64


def _other_signature(doc: dict[str, object]) -> None:
    doc["signature"] = base64.b64encode(b"\x01" * 64).decode()


def _bent_proof(doc: dict[str, object]) -> None:
    hashes = doc["hashes"]
    assert isinstance(hashes, list) and hashes
    hashes[0] = base64.b64encode(hashlib.sha256(b"evil").digest()).decode()


def _other_entry(doc: dict[str, object]) -> None:
    event = json.loads(base64.b64decode(str(doc["data"])))
    event["digest"] = "f" * 64
    doc["data"] = base64.b64encode(json.dumps(event).encode()).decode()


def _forged_checkpoint(path: str, body: bytes) -> bytes:
    if not path.endswith("/checkpoint"):
        return body
    text = body.decode()
    lines = text.split("\n")
    lines[1] = str(int(lines[1]) + 1)  # a bigger tree, same signature
    return "\n".join(lines).encode()


@pytest.mark.parametrize(
    ("rewrite", "code"),
    [
        (_flip_archive, "digest_mismatch"),
        (_json_edit("/echo/1.0.0", _other_manifest), "signature_invalid"),
        (_json_edit("/echo/1.0.0", _other_signature), "entry_mismatch"),
        (_json_edit("/proof/inclusion", _bent_proof), "inclusion_invalid"),
        (_json_edit("/entries/2", _other_entry), "entry_mismatch"),
        (_forged_checkpoint, "checkpoint_invalid"),
    ],
    ids=["blob", "manifest", "signature", "inclusion", "entry", "checkpoint"],
)
async def test_a_tampered_answer_is_refused_and_nothing_is_learned(
    registry: tuple[Server, Path], tmp_path: Path, rewrite: Rewrite, code: str
) -> None:
    """Each tampered answer (archive byte, manifest, signature, inclusion path, log entry,
    checkpoint) fails with its code; the trust store file is never written."""
    server, _ = registry
    with pytest.raises(VerificationFailed) as refused:
        await _fetch(server, tmp_path, "echo@1.0.0", rewrite=rewrite)
    assert refused.value.code == code
    assert not (tmp_path / "registry-trust.json").exists()


async def test_a_key_the_home_does_not_trust_or_revoked_is_refused(
    registry: tuple[Server, Path], tmp_path: Path
) -> None:
    """Once a publisher's key is pinned, a release signed by another key of theirs is
    `key_untrusted` until trusted explicitly; a revoked key is `key_revoked`."""
    server, key = registry
    trust = TrustStore.load(tmp_path)
    other = signing.keygen(tmp_path / "other.key")
    trust.trust(server.url, "acme", other, how="explicit")
    trust.save()
    with pytest.raises(VerificationFailed) as untrusted:
        await _fetch(server, tmp_path, "echo@1.0.0")
    assert untrusted.value.code == "key_untrusted"
    acme = (key.with_suffix(".pub")).read_text().strip()
    trust.trust(server.url, "acme", acme, how="explicit")
    trust.save()
    _, ok = await _fetch(server, tmp_path, "echo@1.0.0")
    assert ok.first_use == ["log key nexflow-registry"]
    trust = TrustStore.load(tmp_path)
    trust.revoke(server.url, "acme", signing.key_id(acme))
    trust.save()
    with pytest.raises(VerificationFailed) as revoked:
        await _fetch(server, tmp_path, "echo@1.0.0")
    assert revoked.value.code == "key_revoked"


async def test_files_that_differ_from_the_manifest_leave_nothing(
    registry: tuple[Server, Path], tmp_path: Path
) -> None:
    """If the unpacked files are not the signed manifest, the destination is removed."""
    server, _ = registry
    _, verified = await _fetch(server, tmp_path, "echo@1.0.0")
    verified.release.manifest[0].size += 1
    dest = tmp_path / "out" / "echo"
    with pytest.raises(VerificationFailed) as refused:
        unpack_verified(verified, dest)
    assert refused.value.code == "manifest_mismatch"
    assert not dest.exists()


def _rotate(
    server: Server, token: str, old: Path, new_public: str, publisher: str
) -> httpx.Response:
    return server.client.post(
        f"/api/v1/publishers/{publisher}/keys/rotate",
        json={
            "new_public_key": new_public,
            "old_key_id": signing.key_id(old.with_suffix(".pub").read_text().strip()),
            "signature": signing.sign_rotation(signing.load_private(old), publisher, new_public),
        },
        headers=server.auth(token),
    )


def _listing_points(new_kid: str, index: int) -> Rewrite:
    """The publisher page claims key `new_kid` was introduced by log entry `index`."""

    def edit(doc: dict[str, object]) -> None:
        keys = doc["keys"]
        assert isinstance(keys, list)
        for key in keys:
            if key["key_id"] == new_kid:
                key["log_index"] = index

    return _json_edit("/publishers/rota", edit)


def _fake_rotation(index: int, old: str, new_public: str, signer: Path) -> Rewrite:
    """Log entry `index` is served as a `key_rotated` entry old → new signed by `signer`."""

    def edit(doc: dict[str, object]) -> None:
        event = {
            "type": "key_rotated",
            "publisher": "rota",
            "old_key_id": old,
            "key_id": signing.key_id(new_public),
            "public_key": new_public,
            "signature": signing.sign_rotation(signing.load_private(signer), "rota", new_public),
        }
        doc["data"] = base64.b64encode(json.dumps(event).encode()).decode()

    return _json_edit(f"/entries/{index}", edit)


async def test_a_key_rotation_signed_by_the_pinned_key_and_logged_is_followed(
    registry: tuple[Server, Path], tmp_path: Path
) -> None:
    """A key the pinned key signed over (the server's `key_rotated` log entry) is accepted
    and pinned as `rotation`; a key merely added, or one a hostile registry claims was
    rotated (a wrong entry, or a forged one not in the checkpoint), is not; the registry
    refuses a rotation the old key did not sign."""
    server, _ = registry
    k1, k2, k3 = (tmp_path / f"k{i}.key" for i in (1, 2, 3))
    token = new_publisher(server, "rota", k1)
    assert publish(server, token, skill_copy(tmp_path, "1.0.0", name="rota"), k1).status_code == 201
    trust, _ = await _fetch(server, tmp_path, "rota")
    trust.save()
    k2_public = signing.keygen(k2)
    rotated = _rotate(server, token, k1, k2_public, "rota")
    assert rotated.status_code == 201, rotated.text
    assert publish(server, token, skill_copy(tmp_path, "1.1.0", name="rota"), k2).status_code == 201
    trust, verified = await _fetch(server, tmp_path, "rota")
    assert verified.release.version == "1.1.0"
    assert trust.pin(server.url, "rota", signing.key_id(k2_public)).how == "rotation"
    trust.save()

    k3_public = signing.keygen(k3)
    forged = _rotate(server, token, k3, k3_public, "rota")  # k3 is no key of rota yet
    assert forged.status_code == 404 and forged.json()["error"] == "key_unknown"
    added = server.client.post(
        "/api/v1/publishers/rota/keys",
        json={"public_key": k3_public},
        headers=server.auth(server.admin),
    )
    assert added.status_code == 201
    body = {
        "new_public_key": signing.keygen(tmp_path / "k4.key"),
        "old_key_id": signing.key_id(k2_public),
        "signature": signing.sign_rotation(signing.load_private(k3), "rota", k3_public),
    }
    bad = server.client.post(
        "/api/v1/publishers/rota/keys/rotate", json=body, headers=server.auth(token)
    )
    assert bad.status_code == 400 and bad.json()["error"] == "rotation_signature_invalid"
    assert publish(server, token, skill_copy(tmp_path, "1.2.0", name="rota"), k3).status_code == 201
    with pytest.raises(VerificationFailed) as untrusted:
        await _fetch(server, tmp_path, "rota")
    assert untrusted.value.code == "key_untrusted"
    k3_id, k2_id = signing.key_id(k3_public), signing.key_id(k2_public)
    lies = [
        _listing_points(k3_id, rotated.json()["log_index"]),
        _fake_rotation(added.json()["log_index"], k2_id, k3_public, k2),
    ]
    for lie in lies:
        with pytest.raises(VerificationFailed) as refused:
            await _fetch(server, tmp_path, "rota", rewrite=lie)
        assert refused.value.code == "rotation_invalid"
    assert TrustStore.load(tmp_path).pin(server.url, "rota", k3_id) is None


async def test_a_key_the_registry_revoked_refuses_install(
    registry: tuple[Server, Path], tmp_path: Path
) -> None:
    """After the publisher revokes its key on the registry (a `key_revoked` log entry),
    a release it signed is refused (`key_revoked`) though this home pinned the key."""
    server, _ = registry
    key = tmp_path / "rv.key"
    token = new_publisher(server, "revo", key)
    folder = skill_copy(tmp_path, "1.0.0", name="revo")
    assert publish(server, token, folder, key).status_code == 201
    trust, _ = await _fetch(server, tmp_path, "revo")
    trust.save()
    kid = signing.key_id(key.with_suffix(".pub").read_text().strip())
    revoked = server.client.post(
        f"/api/v1/publishers/revo/keys/{kid}/revoke",
        json={"reason": "laptop stolen"},
        headers=server.auth(token),
    )
    assert revoked.status_code == 200, revoked.text
    with pytest.raises(VerificationFailed) as refused:
        await _fetch(server, tmp_path, "revo@1.0.0")
    assert refused.value.code == "key_revoked" and "laptop stolen" in refused.value.message


def test_a_rotation_entry_not_signed_by_the_old_key_is_refused(tmp_path: Path) -> None:
    """`check_rotation` refuses an entry signed by the new key itself, or one whose old key
    id is not the pinned key's."""
    old_public = signing.keygen(tmp_path / "old.key")
    new_public = signing.keygen(tmp_path / "new.key")
    good = signing.sign_rotation(signing.load_private(tmp_path / "old.key"), "p", new_public)
    self_signed = signing.sign_rotation(signing.load_private(tmp_path / "new.key"), "p", new_public)
    new_id = signing.key_id(new_public)
    verify.check_rotation(
        verify.Rotation(1, signing.key_id(old_public), new_id, new_public, good), "p", old_public
    )
    for rotation in (
        verify.Rotation(1, signing.key_id(old_public), new_id, new_public, self_signed),
        verify.Rotation(1, new_id, new_id, new_public, good),
    ):
        with pytest.raises(VerificationFailed) as refused:
            verify.check_rotation(rotation, "p", old_public)
        assert refused.value.code == "rotation_invalid"
