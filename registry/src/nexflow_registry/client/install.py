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
from . import verify
from .errors import VerificationFailed
from .fetch import RegistryClient
from .resolve import Spec, resolve
from .trust import TrustStore


@dataclass
class Verified:
    """A release whose archive proved itself; what the lockfile and the audit record."""

    registry: str
    release: VersionOut
    archive: bytes
    public_key: str
    checkpoint_size: int
    first_use: list[str] = field(default_factory=list)
    """what was pinned on first use ("log key", "publisher acme key ab12…")"""


async def _publisher_key(
    client: RegistryClient, trust: TrustStore, release: VersionOut, first_use: list[str]
) -> str:
    pinned = trust.check_key(client.url, release.publisher, release.key_id)
    if pinned:
        return next(
            k.public_key for k in trust.keys(client.url, release.publisher)
            if k.key_id == release.key_id
        )  # fmt: skip
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
    public_key = await _publisher_key(client, trust, release, first_use)
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
