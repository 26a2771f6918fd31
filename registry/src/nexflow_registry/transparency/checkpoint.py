"""The log's head as a C2SP checkpoint in a signed note (ed25519).

    <origin>\\n<tree size>\\n<base64 root hash>\\n
    \\n
    — <key name> <base64(key id || signature)>\\n

The key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), 0x01 being
the note spec's ed25519 algorithm byte; the signature covers the text above the blank line.
`parse_and_verify` is pure: a client holding the verifier key checks a checkpoint offline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_ED25519 = b"\x01"
_DASH = "\u2014"


class CheckpointInvalid(ValueError):
    """The note is malformed, or no signature by the expected key verifies."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> bytes:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n".encode()


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, public: Ed25519PublicKey) -> bytes:
    """The note spec's 4-byte key id."""
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + _raw(public)).digest()[:4]


def verifier_key(name: str, public: Ed25519PublicKey) -> str:
    """`<name>+<hex key id>+<base64(0x01 || key)>`, the note spec's verifier key string."""
    encoded = base64.b64encode(_ED25519 + _raw(public)).decode()
    return f"{name}+{key_id(name, public).hex()}+{encoded}"


def sign(checkpoint: Checkpoint, name: str, private: Ed25519PrivateKey) -> str:
    """The signed note text."""
    body = checkpoint.body()
    sig = base64.b64encode(key_id(name, private.public_key()) + private.sign(body)).decode()
    return f"{body.decode()}\n{_DASH} {name} {sig}\n"


def parse_verifier_key(vkey: str) -> tuple[str, Ed25519PublicKey]:
    """(name, public key) from a verifier key string; `CheckpointInvalid` if malformed."""
    try:
        name, hex_id, encoded = vkey.split("+", 2)  # base64 may hold "+"
        raw = base64.b64decode(encoded, validate=True)
        if raw[:1] != _ED25519 or len(raw) != 33:
            raise CheckpointInvalid("the verifier key is not an ed25519 key")
        public = Ed25519PublicKey.from_public_bytes(raw[1:])
    except (ValueError, binascii.Error) as exc:
        raise CheckpointInvalid(f"malformed verifier key ({exc})") from exc
    if key_id(name, public).hex() != hex_id:
        raise CheckpointInvalid("the verifier key's id does not match its key")
    return name, public


def parse_and_verify(note: str, vkey: str, origin: str | None = None) -> Checkpoint:
    """The checkpoint in `note` if a signature by `vkey` verifies over it."""
    name, public = parse_verifier_key(vkey)
    body, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise CheckpointInvalid("not a signed note (no blank line or no final newline)")
    lines = body.split("\n")
    if len(lines) < 3:
        raise CheckpointInvalid("a checkpoint has an origin, a size and a root hash")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise CheckpointInvalid("the size or the root hash is malformed") from exc
    if size < 0 or len(root) != 32 or str(size) != lines[1]:
        raise CheckpointInvalid("the size or the root hash is malformed")
    if origin is not None and lines[0] != origin:
        raise CheckpointInvalid(f"the checkpoint's origin is {lines[0]!r}, not {origin!r}")
    signed = (body + "\n").encode()
    want = key_id(name, public)
    for line in sigs[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or parts[1] != name:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            continue
        if blob[:4] != want:
            continue
        try:
            public.verify(blob[4:], signed)
        except InvalidSignature:
            continue
        return Checkpoint(lines[0], size, root)
    raise CheckpointInvalid(f"no valid signature by {name!r}")
