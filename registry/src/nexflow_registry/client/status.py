"""What a registry's log looks like from this home, without installing anything: its
checkpoint, verified under the pinned log key, and whether it extends the last checkpoint
an install here saw (read only: the trust store is not written)."""

from __future__ import annotations

import base64

from pydantic import BaseModel

from . import verify
from .errors import VerificationFailed
from .fetch import RegistryClient
from .install import check_extends
from .trust import TrustStore


class LogStatus(BaseModel):
    registry: str
    log_key_pinned: bool
    """False: no install from this registry yet; the checkpoint was checked under the key
    the registry serves now"""
    size: int | None = None
    root: str | None = None
    """base64 of the checkpoint's root hash"""
    seen_size: int | None = None
    seen_root: str | None = None
    consistent: bool
    """the checkpoint verifies and extends the last one seen (or none was seen)"""
    problem: str | None = None
    """checkpoint_invalid, log_rewound or log_forked"""
    message: str | None = None


async def log_status(client: RegistryClient, trust: TrustStore) -> LogStatus:
    """The registry's checkpoint and its consistency with the one this home saw last;
    `RegistryUnreachable` only when the registry cannot be read at all."""
    pinned = trust.log_key(client.url)
    vkey = pinned or await client.log_key()
    seen = trust.last_checkpoint(client.url)
    status = LogStatus(
        registry=client.url,
        log_key_pinned=pinned is not None,
        seen_size=seen.size if seen else None,
        seen_root=base64.b64encode(seen.root).decode() if seen else None,
        consistent=False,
    )
    try:
        cp = verify.check_checkpoint(await client.checkpoint(), vkey)
        status.size, status.root = cp.size, base64.b64encode(cp.root).decode()
        await check_extends(client, seen, cp)
    except VerificationFailed as exc:
        status.problem, status.message = exc.code, exc.message
        return status
    status.consistent = True
    return status
