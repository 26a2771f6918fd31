"""API token format and hashing: `nxf_<id>_<secret>`, stored as sha256 of the whole token.

The id (16 lowercase hex characters) is public: it names the token in lists, the audit
log and revocation, and it is how a presented token is looked up. The secret
(`secrets.token_urlsafe(32)`, 256 bits) is shown once, at creation, and never stored.
A slow password hash is not needed: the token is random and long, so a stolen hash
cannot be guessed back; sha256 keeps each authentication to one fast lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "nxf_"
_ID_BYTES = 8
_TOKEN_RE = re.compile(r"nxf_([0-9a-f]{16})_([A-Za-z0-9_\-]{43})")


def new_token() -> tuple[str, str]:
    """A fresh (token id, whole token)."""
    token_id = secrets.token_hex(_ID_BYTES)
    return token_id, f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


def parse_token_id(token: str) -> str | None:
    """The id of a well-formed API token, else None."""
    match = _TOKEN_RE.fullmatch(token)
    return match.group(1) if match else None


def token_hash(token: str) -> str:
    """What is stored: sha256 of the whole token, 64 lowercase hex characters."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_matches(token: str, stored: str) -> bool:
    """Does `token` hash to `stored`? Compared in constant time."""
    return hmac.compare_digest(token_hash(token).encode(), stored.encode())


def public_prefix(token_id: str) -> str:
    """The part of a token that may be shown anywhere: `nxf_<id>_`."""
    return f"{PREFIX}{token_id}_"
