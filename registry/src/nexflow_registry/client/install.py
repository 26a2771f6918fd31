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
from ..models import VersionOut
from ..routes_keys import PublisherKey
from ..transparency import Checkpoint
from . import verify
from .errors import VerificationFailed
from .fetch import RegistryClient
from .resolve import Spec, resolve
from .trust import TrustStore

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


async def _publisher_key(
    client: RegistryClient,
    trust: TrustStore,
    release: VersionOut,
    cp: Checkpoint,
    first_use: list[str],
) -> str:
    try:
        pinned = trust.check_key(client.url, release.publisher, release.key_id)
    except VerificationFailed as exc:
        if exc.code != "key_untrusted":
            raise
        public_key = await _rotated_key(client, trust, release, cp, exc)
        first_use.append(f"publisher {release.publisher} key {release.key_id[:16]} (rotation)")
        return public_key
    if pinned:
        pin = trust.pin(client.url, release.publisher, release.key_id)
        assert pin is not None
        return pin.public_key
    listed = await client.keys(release.publisher)
    found = [k for k in listed.keys if k.key_id == release.key_id]
    if not found or signing.key_id(found[0].public_key) != release.key_id:
        raise VerificationFailed(
            f"the registry does not show key {release.key_id[:16]} of {release.publisher!r}",
            code="key_untrusted",
        )
    trust.trust(client.url, release.publisher, found[0].public_key, how="first_use")
    first_use.append(f"publisher {release.publisher} key {release.key_id[:16]}")
    return found[0].public_key


async def _rotated_key(
    client: RegistryClient,
    trust: TrustStore,
    release: VersionOut,
    cp: Checkpoint,
    untrusted: VerificationFailed,
) -> str:
    """The release's key, if the log shows a chain of rotations to it from a pinned key
    (each signed by the key before it, each proved into `cp`); pinned as `rotation`."""
    listed = {k.key_id: k for k in (await client.keys(release.publisher)).keys}
    chain: list[PublisherKey] = []
    kid = release.key_id
    while len(chain) < MAX_ROTATIONS:
        key = listed.get(kid)
        if key is None or key.rotated_from is None or key.log_index is None:
            raise untrusted
        chain.append(key)
        parent = trust.pin(client.url, release.publisher, key.rotated_from)
        if parent is not None and parent.status == "revoked":
            raise VerificationFailed(
                f"key {key.key_id[:16]} was rotated from a revoked key", code="key_revoked"
            )
        if parent is not None:
            break
        kid = key.rotated_from
    else:
        raise untrusted
    old_public = parent.public_key
    for key in reversed(chain):
        assert key.log_index is not None
        if key.log_index >= cp.size:
            raise VerificationFailed("a rotation is past the checkpoint", code="rotation_invalid")
        entry = await client.entry(key.log_index)
        verify.check_rotation(entry, release.publisher, old_public, key)
        path = await client.inclusion(key.log_index, cp.size)
        verify.check_inclusion(entry, key.log_index, cp, path)
        trust.trust(client.url, release.publisher, key.public_key, how="rotation")
        old_public = key.public_key
    return old_public


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
    seen = trust.last_checkpoint(client.url)
    if seen is not None and cp.size >= seen.size:
        verify.check_consistency(seen, cp, await client.consistency(seen.size, cp.size))
    else:
        verify.check_consistency(seen, cp, [])
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
