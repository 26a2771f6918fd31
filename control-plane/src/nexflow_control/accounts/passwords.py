"""Web-login passwords: scrypt (stdlib), with a per-password salt and its parameters stored.

Stored form: `scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>`, so the cost can be raised
later without invalidating stored passwords. Hashing takes ~50 ms and 16 MiB on purpose;
callers run it in a worker thread (`asyncio.to_thread`) so the event loop never waits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from ..errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 1024
_LOG2_N, _R, _P, _LEN = 14, 8, 1, 32


def check_strength(password: str) -> str:
    """`password`, if it is long enough to be worth hashing; else 422 naming the field."""
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(
            f"password must be {MIN_LENGTH} to {MAX_LENGTH} characters", field="password"
        )
    if password.strip() != password or len(set(password)) < 4:
        raise InvalidInput(
            "password must not start or end with spaces, and needs at least 4 distinct characters",
            field="password",
        )
    return password


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _LOG2_N, _R, _P)
    return "$".join(("scrypt", str(_LOG2_N), str(_R), str(_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str | None) -> bool:
    """Does `password` match `stored`? With `stored` None (no such user, no password) a
    dummy hash is still computed, so the answer takes as long either way."""
    if stored is None:
        _scrypt(password, b"\0" * 16, _LOG2_N, _R, _P)
        return False
    try:
        kind, log2_n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = _scrypt(password, base64.b64decode(salt), int(log2_n), int(r), int(p))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except ValueError:
        return False


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode()[: MAX_LENGTH * 4],
        salt=salt,
        n=1 << log2_n,
        r=r,
        p=p,
        maxmem=1 << 26,
        dklen=_LEN,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
