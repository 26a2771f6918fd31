"""Fetch one release and prove it, then unpack it: the client's safe install path.

`fetch_verified` resolves `NAME[@VERSION]`, downloads the archive and checks, before a byte
is unpacked: the digest, the log entry, the publisher key against the trust store, the
signature over the manifest, the checkpoint under the pinned log key, the entry's inclusion
in it and its consistency with the last checkpoint this home saw. It records first-use pins
and the new checkpoint in the `TrustStore` in memory; the caller saves it once the install
is in place. `unpack_verified` unpacks with the safe unpacker and checks the files against
the signed manifest, removing everything on a mismatch.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .. import archives, signing
from ..errors import ArchiveRefused
from ..models import PublisherKeyOut, VersionOut
from ..transparency import Checkpoint
from . import verify
from .errors import VerificationFailed
from .fetch import RegistryClient
from .resolve import Spec, resolve
from .trust import SeenCheckpoint, TrustStore

MAX_ROTATIONS = 16


@dataclass
class Verified:
    """A release whose archive proved itself; what the lockfile and the audit record."""

    registry: str
    release: VersionOut
    archive: bytes
    public_key: str
    checkpoint_size: int
    first_use: list[str] = field(default_factory=list)
    """what was newly pinned ("log key …", "publisher acme key ab12…", "… (rotation)")"""


def _refuse_revoked(listed: dict[str, PublisherKeyOut], publisher: str, kid: str) -> None:
    """The registry's own revocation (a logged `key_revoked`) refuses like a local one."""
    key = listed.get(kid)
    if key is not None and key.status == "revoked":
        raise VerificationFailed(
            f"the registry revoked key {kid[:16]} of publisher {publisher!r}"
            f" ({(key.status_reason or 'no reason given')[:200]})",
            code="key_revoked",
        )


async def _publisher_key(
    client: RegistryClient,
    trust: TrustStore,
    release: VersionOut,
    cp: Checkpoint,
    first_use: list[str],
) -> str:
    publisher = release.publisher
    listed = {k.key_id: k for k in (await client.publisher(publisher)).keys}
    _refuse_revoked(listed, publisher, release.key_id)
    try:
        pinned = trust.check_key(client.url, publisher, release.key_id)
    except VerificationFailed as exc:
        if exc.code != "key_untrusted":
            raise
        public_key = await _rotated_key(client, trust, release, cp, listed, exc)
        first_use.append(f"publisher {publisher} key {release.key_id[:16]} (rotation)")
        return public_key
    if pinned:
        pin = trust.pin(client.url, publisher, release.key_id)
        assert pin is not None
        return pin.public_key
    found = listed.get(release.key_id)
    if found is None or signing.key_id(found.public_key) != release.key_id:
        raise VerificationFailed(
            f"the registry does not show key {release.key_id[:16]} of {publisher!r}",
            code="key_untrusted",
        )
    trust.trust(client.url, publisher, found.public_key, how="first_use")
    first_use.append(f"publisher {publisher} key {release.key_id[:16]}")
    return found.public_key


async def _rotated_key(
    client: RegistryClient,
    trust: TrustStore,
    release: VersionOut,
    cp: Checkpoint,
    listed: dict[str, PublisherKeyOut],
    untrusted: VerificationFailed,
) -> str:
    """The release's key, if the log shows a chain of `key_rotated` entries to it from a
    pinned key: each entry is read at the key's `log_index`, proved into `cp` and signed by
    the key before it. Every key of the chain is pinned as `rotation`."""
    publisher = release.publisher
    chain: list[verify.Rotation] = []
    kid = release.key_id
    parent = None
    while parent is None:
        key = listed.get(kid)
        if len(chain) >= MAX_ROTATIONS or key is None or key.log_index is None:
            raise untrusted
        if key.log_index >= cp.size:
            raise VerificationFailed("a rotation is past the checkpoint", code="rotation_invalid")
        entry = await client.entry(key.log_index)
        rotation = verify.rotation_entry(entry, publisher, key.key_id, key.log_index)
        if rotation is None:  # the key was added, not rotated to: nothing vouches for it
            raise untrusted
        path = await client.inclusion(key.log_index, cp.size)
        try:
            verify.check_inclusion(entry, key.log_index, cp, path)
        except VerificationFailed as exc:
            raise VerificationFailed(exc.message, code="rotation_invalid") from exc
        _refuse_revoked(listed, publisher, rotation.old_key_id)
        chain.append(rotation)
        parent = trust.pin(client.url, publisher, rotation.old_key_id)
        if parent is not None and parent.status == "revoked":
            raise VerificationFailed(
                f"key {key.key_id[:16]} was rotated from a revoked key", code="key_revoked"
            )
        kid = rotation.old_key_id
    old_public = parent.public_key
    for rotation in reversed(chain):
        verify.check_rotation(rotation, publisher, old_public)
        trust.trust(client.url, publisher, rotation.public_key, how="rotation")
        old_public = rotation.public_key
    return old_public


async def check_extends(
    client: RegistryClient, seen: SeenCheckpoint | None, cp: Checkpoint
) -> None:
    """`cp` extends `seen` (the last checkpoint this home saw); `log_rewound` or `log_forked`."""
    if seen is not None and cp.size >= seen.size:
        verify.check_consistency(seen, cp, await client.consistency(seen.size, cp.size))
    else:
        verify.check_consistency(seen, cp, [])


async def _log_key(client: RegistryClient, trust: TrustStore, first_use: list[str]) -> str:
    vkey = trust.log_key(client.url)
    if vkey is None:
        vkey = await client.log_key()
        trust.pin_log_key(client.url, vkey)
        first_use.append(f"log key {vkey.split('+', 1)[0]}")
    return vkey


async def fetch_verified(
    client: RegistryClient,
    trust: TrustStore,
    spec: Spec,
    *,
    min_age_hours: float = 0,
    now: datetime | None = None,
) -> Verified:
    """The release `spec` names, proved; `ClientError` (a `VerificationFailed` when the
    registry's answer does not prove itself)."""
    package = await client.package(spec.name)
    version = resolve(package, spec, min_age_hours=min_age_hours, now=now)
    release = await client.version(spec.name, version)
    if release.name != spec.name or release.version != version:
        raise VerificationFailed("the registry answered another release", code="entry_mismatch")
    archive = await client.archive(spec.name, version)
    verify.check_digest(archive, release)
    first_use: list[str] = []
    vkey = await _log_key(client, trust, first_use)
    cp = verify.check_checkpoint(await client.checkpoint(), vkey)
    await check_extends(client, trust.last_checkpoint(client.url), cp)
    if release.log_index >= cp.size:
        raise VerificationFailed(
            f"log entry {release.log_index} is past the checkpoint's size {cp.size}",
            code="inclusion_invalid",
        )
    entry = await client.entry(release.log_index)
    verify.check_entry(entry, release)
    verify.check_inclusion(
        entry, release.log_index, cp, await client.inclusion(release.log_index, cp.size)
    )
    public_key = await _publisher_key(client, trust, release, cp, first_use)
    verify.check_signature(release, public_key)
    trust.record_checkpoint(client.url, cp.size, cp.root)
    return Verified(client.url, release, archive, public_key, cp.size, first_use)


def unpack_verified(verified: Verified, dest: Path, limits: archives.Limits | None = None) -> None:
    """Unpack into `dest` (must not exist) and check the files against the signed manifest;
    `dest` is gone again if anything fails."""
    try:
        archives.unpack(verified.archive, dest, limits)
    except ArchiveRefused as exc:
        raise VerificationFailed(exc.message, code=exc.code) from exc
    try:
        verify.check_files(signing.manifest(dest), verified.release)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
