"""The key secrets are sealed with: a file in the home, never in the database it protects.

`load_or_create_key(path)` reads a 32-byte key (hex, one line) from `path`, or creates it
on first use with mode 0600 (O_EXCL: two processes starting at once cannot both write
one; the loser reads the winner's). A key file readable by group or others is refused.

`SecretBox` seals and opens values with AES-256-GCM; the associated data binds each
ciphertext to its secret's name and version, so a row copied under another name, or an
old version put back, does not open.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class KeyFileError(Exception):
    """The key file is missing where it must exist, unreadable, too open or malformed."""


class SealBroken(Exception):
    """A ciphertext does not open with this key for this name and version."""


def load_or_create_key(path: Path) -> bytes:
    """The key in `path`, created (0600, in a 0700 folder) when there is none yet."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(KEY_BYTES) + "\n")
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise KeyFileError(f"cannot read the secrets key file {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"the secrets key file {path} is open to others; chmod 600 it")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"the secrets key file {path} does not hold a {KEY_BYTES}-byte hex key")
    return key


def _associated(name: str, version: int) -> bytes:
    return f"nexflow-secret\x00{name}\x00{version}".encode()


class SecretBox:
    """AES-256-GCM over one key; see the module docstring."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, name: str, version: int, value: str) -> tuple[bytes, bytes]:
        """(nonce, ciphertext) of `value` bound to `name` and `version`."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce, self._aead.encrypt(nonce, value.encode(), _associated(name, version))

    def open(self, name: str, version: int, nonce: bytes, sealed: bytes) -> str:
        """The value; `SealBroken` when it was sealed otherwise (other key, name, version)."""
        try:
            return self._aead.decrypt(nonce, sealed, _associated(name, version)).decode()
        except (InvalidTag, ValueError, UnicodeDecodeError) as exc:
            raise SealBroken(f"secret {name!r} v{version} does not open with this key") from exc
