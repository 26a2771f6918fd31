"""`ApprovalStore`: the approvals table, every change committed with its audit events.

Built with `await ApprovalStore.open(db, audit_log)` (the shared `Database`;
`Database.open` migrates the table, see `db/migrations/`).
Every state change runs in `AuditLog.transaction()`: the status is re-read under the
chain lock, so two approvers (or an approver and the expiry sweeper), even in two
processes, cannot both move one approval out of `pending`.

Errors: `NotFound` (`approval_not_found`), `Conflict` (`approval_not_pending`, with the
approval's `status`), `ApprovalsUnavailable` / `AuditUnavailable` (503).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..audit import AuditEvent, AuditLog, AuditTransaction
from ..db import Database
from ..db import error_type as _why
from ..errors import ApprovalsUnavailable, Conflict, NotFound
from .models import approvals
from .records import SYSTEM, Approval, Status, from_row


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_approval_id() -> str:
    return f"a_{secrets.token_hex(8)}"


def not_pending(approval: Approval) -> Conflict:
    return Conflict(
        f"approval {approval.id} is {approval.status}, not pending",
        code="approval_not_pending",
        approval_id=approval.id,
        status=str(approval.status),
    )


def expired_event(approval: Approval) -> AuditEvent:
    return AuditEvent(
        action="approval.expired",
        call_id=approval.call_id,
        actor=SYSTEM,
        skill=approval.skill,
        decision="deny",
        reason_codes=["approval_expired"],
        payload={"approval_id": approval.id, "expires_at": approval.expires_at.isoformat()},
    )


class ApprovalStore:
    """See the module docstring; `clock` gives "now" (UTC, aware)."""

    def __init__(
        self, db: Database, audit: AuditLog, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.audit = audit
        self.now = clock

    @classmethod
    async def open(
        cls, db: Database, audit: AuditLog, *, clock: Callable[[], datetime] = utcnow
    ) -> ApprovalStore:
        """The store on `db`, whose tables `Database.open` migrated; changes audited in `audit`."""
        return cls(db, audit, clock=clock)

    def changing(self) -> AbstractAsyncContextManager[AuditTransaction]:
        """One audited change: writes through `tx.conn` and `tx.record`ed events commit together."""
        return self.audit.changing(ApprovalsUnavailable, "approvals")

    async def insert(self, tx: AuditTransaction, approval: Approval) -> None:
        row = {k: getattr(approval, k) for k in (c.name for c in approvals.columns)}
        row["status"] = str(approval.status)
        await tx.conn.execute(insert(approvals).values(**row))

    async def get(self, approval_id: str) -> Approval:
        rows = await self._read(select(approvals).where(approvals.c.id == approval_id))
        if not rows:
            raise NotFound(f"no approval with id {approval_id!r}", code="approval_not_found")
        return rows[0]

    async def by_call(self, call_id: str) -> Approval | None:
        rows = await self._read(select(approvals).where(approvals.c.call_id == call_id))
        return rows[0] if rows else None

    async def recent(self, status: Status | None = None, limit: int = 100) -> list[Approval]:
        query = select(approvals).order_by(approvals.c.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(approvals.c.status == str(status))
        return await self._read(query)

    async def with_status(self, status: Status) -> list[Approval]:
        return await self._read(select(approvals).where(approvals.c.status == str(status)))

    async def locked(self, tx: AuditTransaction, approval_id: str) -> Approval:
        """The row as it is inside `tx` (under the chain lock)."""
        row = (
            await tx.conn.execute(select(approvals).where(approvals.c.id == approval_id))
        ).first()
        if row is None:
            raise NotFound(f"no approval with id {approval_id!r}", code="approval_not_found")
        return from_row(row)

    async def set_status(
        self,
        conn: AsyncConnection,
        approval: Approval,
        status: Status,
        *,
        decided_by: str | None = None,
        comment: str | None = None,
    ) -> None:
        values: dict[str, object] = {"status": str(status)}
        if decided_by is not None:
            values.update(decided_by=decided_by, decided_at=self.now(), comment=comment)
        await conn.execute(update(approvals).where(approvals.c.id == approval.id).values(**values))

    async def expire_due(self) -> list[Approval]:
        """Expire every pending approval past its time, each with `approval.expired`."""
        now = self.now()
        due = await self._read(
            select(approvals).where(
                approvals.c.status == str(Status.PENDING), approvals.c.expires_at <= now
            )
        )
        done = []
        for candidate in due:
            async with self.changing() as tx:
                current = await self.locked(tx, candidate.id)
                if current.status is not Status.PENDING:
                    continue
                await self.set_status(tx.conn, current, Status.EXPIRED, decided_by=SYSTEM)
                tx.record(expired_event(current))
            done.append(current)
        return done

    async def _read(self, query: object) -> list[Approval]:
        try:
            async with self.db.engine.connect() as conn:
                result = await conn.execute(query)  # type: ignore[call-overload]
                return [from_row(r) for r in result]
        except (OSError, SQLAlchemyError) as exc:
            raise ApprovalsUnavailable(f"the approvals table cannot be read ({_why(exc)})") from exc
