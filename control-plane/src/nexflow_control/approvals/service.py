"""`ApprovalService`: approve and deny (scope + policy), expiry, and the background runs.

- `decide(id, who, approve=..)`: the policy (`data.nexflow.authz.approval`) must allow
  `who` to decide this call (403 `policy_denied` with its reasons otherwise); the row
  moves out of `pending` under the chain lock with `approval.granted` / `approval.denied`
  (409 `approval_not_pending` if it already left). A granted call runs in an asyncio task.
- Expiry: a sweeper task every `approvals.sweep_interval_s`, and lazily on every read and
  decide, moves pending approvals past `expires_at` to `expired` (`approval.expired`,
  actor `system`).
- A denied or expired call that came from a chat (or a schedule with a chat destination)
  owes that chat a notice: one outbox row (`CallService.owe_not_run`), like a call that
  ran, so it reaches the chat even when the gateway restarted while the call waited.
- `recover()` at start: expired ones are expired; pending ones stay pending; a `granted`
  row (approved, never dispatched: dispatch and `ran` commit together) becomes
  `interrupted` (`approval.interrupted` + `call.failed` `approval_interrupted`): an
  approval is not carried out at some later, unexpected time — the caller asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import structlog

from ..audit import AuditEvent
from ..auth import Principal
from ..errors import AuditUnavailable, NexflowError, PolicyDenied, PolicyUnavailable
from ..policy import PolicyEngine
from .records import SYSTEM, Approval, Status
from .store import ApprovalStore, expired_event, not_pending

if TYPE_CHECKING:
    from ..accounts import AccountStore
    from ..calls import CallService

log = structlog.get_logger("nexflow.approvals")

MAX_COMMENT = 1000


class ApprovalService:
    def __init__(
        self,
        store: ApprovalStore,
        engine: PolicyEngine,
        calls: CallService,
        *,
        sweep_interval_s: float,
        accounts: AccountStore | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.calls = calls
        self.accounts = accounts
        self._interval = sweep_interval_s
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    # -- reads (expire lazily first) -----------------------------------------------------

    async def get(self, approval_id: str) -> Approval:
        approval = await self.store.get(approval_id)
        if approval.status is Status.PENDING and approval.expires_at <= self.store.now():
            await self._expire_due()
            approval = await self.store.get(approval_id)
        return approval

    async def recent(self, status: Status | None, limit: int = 100) -> list[Approval]:
        await self._expire_due()
        return await self.store.recent(status, limit)

    # -- decisions -----------------------------------------------------------------------

    async def decide(
        self, approval_id: str, who: Principal, *, approve: bool, comment: str | None
    ) -> Approval:
        approval = await self.get(approval_id)
        if approval.status is not Status.PENDING:
            raise not_pending(approval)
        answer = await self.engine.approve(
            {
                "principal": who.to_policy(),
                "request": {
                    "principal": {k: approval.principal[k] for k in ("id", "roles", "channel")},
                    "skill": {"name": approval.skill, "digest": approval.skill_digest},
                    "reason_codes": approval.reason_codes,
                },
            }
        )
        if not answer.allow:
            codes = sorted(r.code for r in answer.reasons)
            with contextlib.suppress(AuditUnavailable):  # the refusal stands either way
                await self.store.audit.append(
                    AuditEvent(
                        action="approval.refused",
                        call_id=approval.call_id,
                        actor=who.id,
                        skill=approval.skill,
                        decision="deny",
                        reason_codes=codes,
                        policy_revision=answer.revision,
                        payload={
                            "approval_id": approval.id,
                            "approve": approve,
                            "requested_by": approval.principal["id"],
                            "via": who.via,
                            **who.chat_fields(),
                        },
                    )
                )
            raise PolicyDenied(
                f"policy does not allow {who.id!r} to decide this call",
                approval_id=approval.id,
                reasons=[{"code": r.code, "message": r.message} for r in answer.reasons],
            )
        status = Status.GRANTED if approve else Status.DENIED
        expired = False
        async with self.store.changing() as tx:
            current = await self.store.locked(tx, approval_id)
            if current.status is Status.PENDING and current.expires_at <= self.store.now():
                await self.store.set_status(tx.conn, current, Status.EXPIRED, decided_by=SYSTEM)
                tx.record(expired_event(current))
                expired = True
            elif current.status is Status.PENDING:
                await self.store.set_status(
                    tx.conn, current, status, decided_by=who.id, comment=comment
                )
                tx.record(
                    AuditEvent(
                        action=f"approval.{status}",
                        call_id=current.call_id,
                        actor=who.id,
                        skill=current.skill,
                        decision="allow" if approve else "deny",
                        reason_codes=current.reason_codes,
                        policy_revision=answer.revision,
                        payload={
                            "approval_id": current.id,
                            "requested_by": current.principal["id"],
                            "comment": comment,
                            "via": who.via,
                            **who.chat_fields(),
                        },
                    )
                )
        if expired:
            await self._owe_expired(current)
        if expired or current.status is not Status.PENDING:
            raise not_pending(await self.store.get(approval_id))
        decided = await self.store.get(approval_id)
        if approve:
            self._spawn(decided)
        else:
            await self.calls.owe_not_run(decided, str(Status.DENIED), f"{who.id} denied it")
        return decided

    async def _expire_due(self) -> list[Approval]:
        """Expire what is due (`ApprovalStore.expire_due`), each chat told."""
        expired = await self.store.expire_due()
        for approval in expired:
            await self._owe_expired(approval)
        return expired

    async def _owe_expired(self, approval: Approval) -> None:
        await self.calls.owe_not_run(
            approval, str(Status.EXPIRED), "nobody decided before its approval expired"
        )

    def _spawn(self, approval: Approval) -> None:
        task = asyncio.create_task(self._run(approval), name=f"approved-{approval.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, approval: Approval) -> None:
        try:
            requester = await self._requester_now(approval)
            if requester is None:
                await self.calls.invalidate(approval, approval.requester(), "requester_disabled")
                return
            await self.calls.run_approved(approval, requester)
        except NexflowError as exc:  # recorded as call.failed where it could be
            log.warning("approval.run_failed", approval_id=approval.id, error=exc.code)
        except Exception:
            log.exception("approval.run_crashed", approval_id=approval.id)

    async def _requester_now(self, approval: Approval) -> Principal | None:
        """The requester with the roles their account has now; None if it was disabled
        (or replaced) since they asked: an approval never runs for a locked-out user."""
        asked = approval.requester()
        if self.accounts is None:
            return asked
        return await self.accounts.as_now(asked)

    # -- lifecycle -----------------------------------------------------------------------

    async def recover(self) -> dict[str, int]:
        """At start: expire what is due, interrupt what was granted but never dispatched."""
        expired = await self._expire_due()
        interrupted = 0
        for approval in await self.store.with_status(Status.GRANTED):
            async with self.store.changing() as tx:
                current = await self.store.locked(tx, approval.id)
                if current.status is not Status.GRANTED:
                    continue
                await self.store.set_status(tx.conn, current, Status.INTERRUPTED)
                for action, actor, extra in (
                    ("approval.interrupted", SYSTEM, {}),
                    ("call.failed", current.principal["id"], {"error": "approval_interrupted"}),
                ):
                    tx.record(
                        AuditEvent(
                            action=action,
                            call_id=current.call_id,
                            actor=actor,
                            skill=current.skill,
                            decision="error",
                            reason_codes=["approval_interrupted"],
                            payload={
                                "approval_id": current.id,
                                "message": "the control plane stopped before the approved "
                                "call was dispatched; it was not run",
                                **extra,
                            },
                        )
                    )
            interrupted += 1
        return {"expired": len(expired), "interrupted": interrupted}

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="approvals-sweeper")

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                for approval in await self._expire_due():
                    log.info("approval.expired", approval_id=approval.id)
            except (NexflowError, PolicyUnavailable) as exc:
                log.warning("approvals.sweep_failed", error=exc.code)

    async def stop(self) -> None:
        """Stop the sweeper; let running approved calls finish (bounded), cancel the rest."""
        tasks = [t for t in (self._sweeper, *self._tasks) if t is not None]
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
