"""`Registry`: what the routes share (database, blobs, limits, the log's signer)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import archives
from .blobs import BlobStore
from .db import Database
from .transparency import Checkpoint, log, verifier_key
from .transparency import checkpoint as note


@dataclass(frozen=True)
class LogSigner:
    origin: str
    private: Ed25519PrivateKey

    @property
    def vkey(self) -> str:
        return verifier_key(self.origin, self.private.public_key())


@dataclass
class Registry:
    db: Database
    blobs: BlobStore
    scratch: Path
    limits: archives.Limits
    log_signer: LogSigner

    async def checkpoint(self) -> str:
        """The signed note of the log's current head."""
        async with self.db.engine.connect() as conn:
            size = await log.size(conn)
            root = await log.root(conn, size)
        head = Checkpoint(self.log_signer.origin, size, root)
        return note.sign(head, self.log_signer.origin, self.log_signer.private)
