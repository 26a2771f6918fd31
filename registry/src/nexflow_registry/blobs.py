"""Package archives on disk, one file per sha256, checked again on every read."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .errors import BlobCorrupt, NotFound


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise NotFound(f"no blob {digest[:80]!r}", code="blob_not_found")
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store `data` (atomically; a second put of the same bytes is a no-op); its digest."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".put-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        return digest

    def get(self, digest: str) -> bytes:
        """The bytes of `digest`; `BlobCorrupt` if the file no longer hashes to it."""
        try:
            data = self.path(digest).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"no blob {digest}", code="blob_not_found") from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobCorrupt(f"the stored blob {digest} does not match its digest; not served")
        return data

    def delete(self, digest: str) -> None:
        """Remove a blob's file (a removed version's bytes are not kept to be served)."""
        self.path(digest).unlink(missing_ok=True)
