"""Cancelling a running call: `call.cancel_requested` (who asked), then the executor's
Cancel; the call then ends `killed` with kill_reason `cancelled` in its `call.finished`.

Who may: the caller who started the call (a token with `calls:run`), or a token with
`calls:cancel` (never a default scope; the bootstrap admin's token and admins' web
sessions have it). Anyone else: 403 `insufficient_scope` (scope `calls:cancel`).

A call running on this control plane is found in `CallParts.running`; its entry's lock
orders the request before the call's ending, or refuses it (409 `call_not_running`)
when the call already ended. When the executor does not know the call yet (it still
waits for a slot, or its bundle is on its way) the wait for it is dropped: nothing ran,
or the executor kills what its vanished client started. A call this control plane does
not hold (another one on the same database runs it) is cancelled by its story: if it
is `running` there, the request is recorded and every executor is asked to cancel it.

A call that waits for approval is not running: 409 `call_not_running` with its status
`pending_approval` (deny it, or let it expire). A finished one: 409 with its status.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import structlog

from .. import audit as audit_mod
from ..accounts import Scope
from ..auth import Principal
from ..errors import Conflict, InsufficientScope
from ._context import CallParts
from ._results import call_event
from ._story import call_events, call_owner, call_summary

log = structlog.get_logger("nexflow.calls")

CANCEL_WAIT_S = 5.0
"""How long a cancel waits for the call to end before it answers `cancelling`."""


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A cancel's answer: the call's status now (`cancelling` while it has not ended)."""

    call_id: str
    status: str
    kill_reason: str | None = None

    @property
    def ended(self) -> bool:
        return self.status != "cancelling"

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "status": self.status, "kill_reason": self.kill_reason}


def not_running(call_id: str, status: str) -> Conflict:
    return Conflict(
        f"call {call_id} is {status}, not running",
        code="call_not_running",
        call_id=call_id,
        status=status,
    )


def may_cancel(who: Principal, owner: str | None) -> None:
    """Nothing, if `who` may cancel a call `owner` started; else InsufficientScope."""
    if Scope.CALLS_CANCEL in who.scopes:
        return
    if Scope.CALLS_RUN in who.scopes and owner is not None and who.id == owner:
        return
    raise InsufficientScope(Scope.CALLS_CANCEL)


async def cancel(
    parts: CallParts, call_id: str, who: Principal, *, wait_s: float = CANCEL_WAIT_S
) -> Cancelled:
    """See the module docstring."""
    entry = parts.running.get(call_id)
    if entry is None:
        return await _cancel_elsewhere(parts, call_id, who)
    may_cancel(who, entry.owner)
    async with entry.lock:
        if entry.ended:
            raise not_running(call_id, "finishing")
        await parts.append(_requested(call_id, who, entry.skill, entry.owner, here=True))
        entry.cancelled_by = who.id
    found = await parts.executor.cancel(call_id)
    if not found:
        entry.stop()  # not on an executor yet: stop waiting for one
    log.info("call.cancel_requested", call_id=call_id, by=who.id, found=found)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(entry.done.wait(), wait_s)
    if not entry.done.is_set():
        return Cancelled(call_id, "cancelling")
    return Cancelled(call_id, entry.status, entry.kill_reason)


async def _cancel_elsewhere(parts: CallParts, call_id: str, who: Principal) -> Cancelled:
    events = await call_events(parts.audit, call_id)
    owner = call_owner(events)
    may_cancel(who, owner)
    status = str(call_summary(events)["status"])
    if status != "running":
        raise not_running(call_id, status)
    skill = events[-1]["skill"] or ""
    await parts.append(_requested(call_id, who, skill, owner, here=False))
    found = await parts.executor.cancel(call_id)
    log.info("call.cancel_requested", call_id=call_id, by=who.id, found=found, here=False)
    return Cancelled(call_id, "cancelling")


def _requested(
    call_id: str, who: Principal, skill: str, owner: str | None, *, here: bool
) -> audit_mod.AuditEvent:
    return call_event(
        "call.cancel_requested",
        call_id,
        who,
        skill,
        payload={"requested_by": who.id, "via": who.via, "started_by": owner, "here": here},
    )
