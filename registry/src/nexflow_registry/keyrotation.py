"""Key rotation: the old key signs the new one, and the log records both.

The statement an old key signs is `nexflow-key-rotation/1\\n<publisher>\\n<new key id>\\n`.
The registry refuses a rotation whose signature does not verify under a key the publisher
holds, and appends a `key_rotated` entry (publisher, old key id, new key id and key, the
signature) to the log. A client that pinned the old key accepts the new one only from such
an entry, proved into a checkpoint, whose signature it checks itself.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import signing
from .errors import BadRequest

PREFIX = "nexflow-key-rotation/1"


def statement(publisher: str, new_key_id: str) -> bytes:
    return f"{PREFIX}\n{publisher}\n{new_key_id}\n".encode()


def sign(old: Ed25519PrivateKey, publisher: str, new_public_key: str) -> str:
    """The old key's base64 signature handing `publisher` over to `new_public_key`."""
    sig = old.sign(statement(publisher, signing.key_id(new_public_key)))
    return base64.b64encode(sig).decode()


def verifies(old_public_key: str, publisher: str, new_public_key: str, signature: str) -> bool:
    """Whether `signature` is the old key's consent to `new_public_key`; never raises."""
    try:
        old = signing.load_public(old_public_key)
        old.verify(
            base64.b64decode(signature, validate=True),
            statement(publisher, signing.key_id(new_public_key)),
        )
    except (InvalidSignature, ValueError, binascii.Error, BadRequest):
        return False
    return True
