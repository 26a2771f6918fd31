"""`Checkpointer`: signs the chain head into the checkpoint file while the control plane runs.

Every `interval_s` (sooner once `every_events` events were added) it looks at the head
this process committed (`AuditLog.head`; the database's head when that is unknown) and,
when it moved since the last checkpoint, appends a signed checkpoint (`checkpoint.append`,
fsynced). `stop()` writes a final one, so a clean shutdown leaves the whole log vouched
for. A failure is logged and retried at the next tick; it never stops the control plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select

from . import checkpoint
from .checkpoint import Checkpoint, CheckpointError
from .models import audit_events as t

if TYPE_CHECKING:
    from ..settings import Settings
    from .store import AuditLog

log = structlog.get_logger("nexflow.audit")

_MAX_TICK_S = 1.0


class Checkpointer:
    """Periodic signed checkpoints of one `AuditLog`'s head. `start()`, then `await stop()`."""

    def __init__(
        self,
        audit: AuditLog,
        *,
        key_file: Path,
        file: Path,
        interval_s: float = 10.0,
        every_events: int = 1000,
    ) -> None:
        self._audit = audit
        self.key_file = key_file
        self.file = file
        self._interval_s = interval_s
        self._every_events = every_events
        self._key: Ed25519PrivateKey | None = None
        self._last: tuple[int, str] | None = None
        self._last_at = 0.0
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, audit: AuditLog, settings: Settings) -> Checkpointer:
        return cls(
            audit,
            key_file=settings.checkpoint_key_file,
            file=settings.checkpoint_file,
            interval_s=settings.checkpoints.interval_s,
            every_events=settings.checkpoints.every_events,
        )

    @property
    def public_key(self) -> Ed25519PublicKey | None:
        """The key checkpoints are verified with; None when the private key could not load."""
        return self._key.public_key() if self._key else None

    def start(self) -> None:
        """Load (or create) the key and start the periodic task; a bad key is logged only."""
        try:
            self._key = checkpoint.load_or_create_key(self.key_file)
        except CheckpointError as exc:
            log.error("audit.checkpoint_key_unusable", error=str(exc))
            return
        self._stopping.clear()
        self._last_at = time.monotonic()  # the first one after interval_s (or every_events)
        self._task = asyncio.create_task(self._run(), name="audit-checkpointer")
        log.info(
            "audit.checkpoints_started",
            file=str(self.file),
            key_id=checkpoint.key_id(self._key.public_key()),
        )

    async def stop(self, *, final: bool = True) -> None:
        """Stop the task, then (unless `final=False`) write a last checkpoint of the head."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if final and self._key is not None:
            await self.checkpoint_now()

    async def checkpoint_now(self) -> Checkpoint | None:
        """Checkpoint the database's current head if it moved; None when nothing was written."""
        try:
            head = await self._db_head()
        except Exception as exc:  # logged; never fatal
            log.error("audit.checkpoint_failed", error=_why(exc), stage="read_head")
            return None
        return await self._write(head)

    async def _run(self) -> None:
        tick = min(self._interval_s, _MAX_TICK_S)
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), tick)
            if self._stopping.is_set():
                return
            try:
                head = self._audit.head or await self._db_head()
            except Exception as exc:  # logged; retried next tick
                log.error("audit.checkpoint_failed", error=_why(exc), stage="read_head")
                continue
            if head is None or head == self._last:
                continue
            due = time.monotonic() - self._last_at >= self._interval_s
            if due or head[0] - (self._last or (0, ""))[0] >= self._every_events:
                await self._write(head)

    async def _write(self, head: tuple[int, str] | None) -> Checkpoint | None:
        if head is None or self._key is None:
            return None
        async with self._lock:
            if head == self._last:
                return None
            cp = checkpoint.sign(self._key, head[0], head[1])
            try:
                await asyncio.to_thread(checkpoint.append, self.file, cp)
            except Exception as exc:  # logged; retried next tick
                log.error("audit.checkpoint_failed", error=_why(exc), stage="write")
                return None
            self._last, self._last_at = head, time.monotonic()
            log.debug("audit.checkpoint_written", seq=cp.seq)
            return cp

    async def _db_head(self) -> tuple[int, str] | None:
        stmt = select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1)
        async with self._audit.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return (int(row[0]), str(row[1])) if row else None


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"
