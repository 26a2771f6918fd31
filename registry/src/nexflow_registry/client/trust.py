"""The trust store in a Nexflow home: which keys this home believes, per registry URL.

    {"registries": {URL: {"log_key": VKEY, "checkpoint": {"size": N, "root": B64} | null}},
     "publishers": {URL: {PUBLISHER: {KEY_ID: {"public_key", "status", "how", "at"}}}}}

A registry's log key and a publisher's first key are pinned on first use (`how:
"first_use"`), a key the log shows an old pinned key signed over is pinned as `"rotation"`;
`trust` pins a key explicitly and `revoke` marks one revoked, which refuses
every install it signed. The last checkpoint seen per registry is what the next one must be
consistent with. The file is written whole (temporary file, then rename), mode 0600.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from .. import signing
from ..errors import BadRequest
from .errors import ClientError, VerificationFailed

FILE_NAME = "registry-trust.json"
KeyStatus = Literal["trusted", "revoked"]


_URL = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?$")


def normalize_url(url: str) -> str:
    """`http(s)://host[:port][/path]` without its trailing slash; `bad_registry_url` else."""
    if len(url) > 2000 or not _URL.match(url):
        raise ClientError(f"{url[:80]!r} is not an http(s) registry URL", code="bad_registry_url")
    return url.rstrip("/")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class KeyPin:
    publisher: str
    key_id: str
    public_key: str
    status: KeyStatus
    how: str
    at: str


@dataclass(frozen=True)
class SeenCheckpoint:
    size: int
    root: bytes


class TrustStore:
    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self._doc = doc
        self._doc.setdefault("registries", {})
        self._doc.setdefault("publishers", {})

    @classmethod
    def load(cls, home: Path) -> TrustStore:
        path = home / FILE_NAME
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            doc = {}
        except (OSError, ValueError) as exc:
            raise ClientError(
                f"{path}: unreadable trust store ({exc})", code="trust_store_bad"
            ) from exc
        if not isinstance(doc, dict):
            raise ClientError(f"{path}: not a JSON object", code="trust_store_bad")
        return cls(path, doc)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".trust-", dir=self.path.parent)
        with os.fdopen(fd, "w") as out:
            json.dump(self._doc, out, indent=2, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def _registry(self, url: str) -> dict[str, Any]:
        reg: dict[str, Any] = self._doc["registries"].setdefault(normalize_url(url), {})
        return reg

    # The registry's log key and the last checkpoint seen.

    def log_key(self, url: str) -> str | None:
        value = self._registry(url).get("log_key")
        return str(value) if value else None

    def pin_log_key(self, url: str, vkey: str) -> None:
        self._registry(url)["log_key"] = vkey

    def last_checkpoint(self, url: str) -> SeenCheckpoint | None:
        seen = self._registry(url).get("checkpoint")
        if not seen:
            return None
        return SeenCheckpoint(int(seen["size"]), base64.b64decode(seen["root"]))

    def record_checkpoint(self, url: str, size: int, root: bytes) -> None:
        self._registry(url)["checkpoint"] = {
            "size": size,
            "root": base64.b64encode(root).decode(),
        }

    def registries(self) -> list[str]:
        return sorted(set(self._doc["registries"]) | set(self._doc["publishers"]))

    # Publisher keys.

    def _keys(self, url: str, publisher: str) -> dict[str, Any]:
        pubs = self._doc["publishers"].setdefault(normalize_url(url), {})
        keys: dict[str, Any] = pubs.setdefault(publisher, {})
        return keys

    def keys(self, url: str, publisher: str | None = None) -> list[KeyPin]:
        pubs = self._doc["publishers"].get(normalize_url(url), {})
        return [
            KeyPin(name, kid, k["public_key"], k["status"], k["how"], k["at"])
            for name in sorted(pubs)
            if publisher is None or name == publisher
            for kid, k in sorted(pubs[name].items())
        ]

    def pin(self, url: str, publisher: str, key_id: str) -> KeyPin | None:
        return next((k for k in self.keys(url, publisher) if k.key_id == key_id), None)

    def trust(self, url: str, publisher: str, public_key: str, how: str) -> KeyPin:
        """Pin `public_key` for `publisher` (a revoked key stays revoked)."""
        try:
            signing.load_public(public_key)
        except BadRequest as exc:
            raise ClientError(exc.message, code="bad_public_key") from exc
        kid = signing.key_id(public_key)
        keys = self._keys(url, publisher)
        if keys.get(kid, {}).get("status") == "revoked":
            raise ClientError(f"key {kid[:16]} of {publisher!r} is revoked", code="key_revoked")
        at = _now()
        keys[kid] = {"public_key": public_key, "status": "trusted", "how": how, "at": at}
        return KeyPin(publisher, kid, public_key, "trusted", how, at)

    def revoke(self, url: str, publisher: str, key: str) -> str:
        """Mark a key (its id, an id prefix of 8+ characters, or the base64 key) revoked."""
        keys = self._keys(url, publisher)
        kid = key
        if len(key) == 44 and key.endswith("="):  # a base64 public key, not an id
            with contextlib.suppress(ValueError):
                kid = signing.key_id(key)
        found = [k for k in keys if k == kid or (len(kid) >= 8 and k.startswith(kid))]
        if len(found) != 1:
            raise ClientError(
                f"no single pinned key {key[:20]!r} for {publisher!r}", code="key_not_pinned"
            )
        keys[found[0]]["status"] = "revoked"
        keys[found[0]]["at"] = _now()
        return found[0]

    def check_key(self, url: str, publisher: str, key_id: str) -> bool:
        """True if `key_id` is trusted; False if the publisher has no key pinned yet (first
        use); `VerificationFailed` (key_revoked / key_untrusted) otherwise."""
        keys = self._keys(url, publisher)
        pin = keys.get(key_id)
        if pin is not None and pin["status"] == "revoked":
            raise VerificationFailed(
                f"key {key_id[:16]} of publisher {publisher!r} is revoked here", code="key_revoked"
            )
        if pin is not None:
            return True
        if keys:
            raise VerificationFailed(
                f"publisher {publisher!r} signed with key {key_id[:16]}, which this home does "
                f"not trust (run 'nexflow registry trust {publisher} KEY' if it is theirs)",
                code="key_untrusted",
            )
        return False
