"""The install client's checks, as pure functions of what the registry sent.

Each raises `VerificationFailed` with a stable code, or returns quietly:

    check_digest       the archive's sha256 is the digest the release names
    check_entry        the log entry is this release's publish event (package, version,
                       digest, key id, signature all equal)
    check_signature    the publisher key signs the release's file manifest
    check_checkpoint   the checkpoint note verifies under the pinned log key
    check_inclusion    the entry's leaf is in the checkpoint's tree
    check_consistency  the checkpoint extends the last one this home saw (not rewound, not
                       forked)
    check_files        the unpacked files are exactly the signed manifest
    rotation_entry     the `key_rotated` log entry that introduced a key, if it is one
    check_rotation     that entry is signed by the old key over `signing.rotation_message`
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .. import signing
from ..errors import RegistryError
from ..models import VersionOut
from ..transparency import (
    Checkpoint,
    CheckpointInvalid,
    leaf_hash,
    parse_and_verify,
    verify_consistency,
    verify_inclusion,
)
from .errors import VerificationFailed
from .trust import SeenCheckpoint


def check_digest(archive: bytes, release: VersionOut) -> str:
    digest = hashlib.sha256(archive).hexdigest()
    if digest != release.digest:
        raise VerificationFailed(
            f"the archive's sha256 is {digest[:16]}…, the release names {release.digest[:16]}…",
            code="digest_mismatch",
        )
    return digest


def _event(entry: bytes, want: Mapping[str, object]) -> dict[str, object] | None:
    """The entry's JSON object if it holds every field of `want` with that value."""
    try:
        event = json.loads(entry)
    except ValueError:
        return None
    if not isinstance(event, dict) or any(event.get(k) != v for k, v in want.items()):
        return None
    return event


def check_entry(entry: bytes, release: VersionOut) -> None:
    want = {
        "type": "publish",
        "package": release.name,
        "version": release.version,
        "digest": release.digest,
        "publisher": release.publisher,
        "key_id": release.key_id,
        "signature": release.signature,
    }
    if _event(entry, want) is None:
        raise VerificationFailed(
            f"log entry {release.log_index} is not the publish event of "
            f"{release.name} {release.version}",
            code="entry_mismatch",
        )


def check_signature(release: VersionOut, public_key: str) -> None:
    if signing.key_id(public_key) != release.key_id:
        raise VerificationFailed(
            "the publisher key's id is not the one the release names", code="signature_invalid"
        )
    doc = signing.SignatureDoc(public_key=public_key, signature=release.signature)
    try:
        signing.verify(release.manifest, doc)
    except RegistryError as exc:
        raise VerificationFailed(
            f"the signature over {release.name} {release.version}'s manifest does not verify",
            code="signature_invalid",
        ) from exc


def check_checkpoint(note: str, vkey: str) -> Checkpoint:
    try:
        return parse_and_verify(note, vkey)
    except CheckpointInvalid as exc:
        raise VerificationFailed(
            f"the registry's checkpoint does not verify under the pinned log key: {exc}",
            code="checkpoint_invalid",
        ) from exc


def check_inclusion(entry: bytes, index: int, cp: Checkpoint, path: Sequence[bytes]) -> None:
    if not verify_inclusion(leaf_hash(entry), index, cp.size, path, cp.root):
        raise VerificationFailed(
            f"log entry {index} is not proved into the checkpoint of size {cp.size}",
            code="inclusion_invalid",
        )


def check_consistency(seen: SeenCheckpoint | None, cp: Checkpoint, path: Sequence[bytes]) -> None:
    if seen is None:
        return
    if cp.size < seen.size:
        raise VerificationFailed(
            f"the registry's log has {cp.size} entries; this home already saw {seen.size} "
            "(the log was rewound)",
            code="log_rewound",
        )
    if not verify_consistency(seen.size, cp.size, seen.root, cp.root, path):
        raise VerificationFailed(
            f"the registry's log of size {cp.size} does not extend the one of size "
            f"{seen.size} this home saw (the log forked)",
            code="log_forked",
        )


def check_files(entries: list[signing.ManifestEntry], release: VersionOut) -> None:
    if entries != release.manifest:
        raise VerificationFailed(
            "the unpacked files differ from the signed manifest", code="manifest_mismatch"
        )


@dataclass(frozen=True)
class Rotation:
    """A `key_rotated` log entry as the client read it (not yet checked)."""

    index: int
    old_key_id: str
    key_id: str
    public_key: str
    signature: str


def rotation_entry(entry: bytes, publisher: str, key_id: str, index: int) -> Rotation | None:
    """The `key_rotated` entry that introduced `key_id`; None if the entry merely added it
    (`key_added`); `rotation_invalid` if the entry is not about this key at all."""
    event = _event(entry, {"publisher": publisher, "key_id": key_id})
    if event is not None and event.get("type") == "key_added":
        return None
    fields = [event.get(k) for k in ("old_key_id", "public_key", "signature")] if event else []
    if (
        event is None
        or event.get("type") != "key_rotated"
        or not all(isinstance(f, str) for f in fields)
    ):
        raise VerificationFailed(
            f"log entry {index} is not the entry that introduced key {key_id[:16]} of "
            f"{publisher!r}",
            code="rotation_invalid",
        )
    old_kid, public_key, signature = (str(f) for f in fields)
    return Rotation(index, old_kid, key_id, public_key, signature)


def check_rotation(rotation: Rotation, publisher: str, old_public_key: str) -> None:
    if (
        signing.key_id(old_public_key) != rotation.old_key_id
        or signing.key_id(rotation.public_key) != rotation.key_id
        or not signing.verify_rotation(
            old_public_key, publisher, rotation.public_key, rotation.signature
        )
    ):
        raise VerificationFailed(
            f"the rotation to key {rotation.key_id[:16]} (log entry {rotation.index}) is not "
            "signed by the key it replaces",
            code="rotation_invalid",
        )
