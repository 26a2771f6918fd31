"""`/api/v1/calls/{id}` (a call's story) and `/api/v1/calls/{id}/cancel`."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from ..calls import call_events, call_owner, call_summary
from ..errors import InsufficientScope, NotFound
from .deps import CallReader, PrincipalDep, ServicesDep, refuse_scope
from .params import PathName
from .route import edge_router
from .schemas import CallStory
from .schemas_calls import CancelOut

router = edge_router("/api/v1/calls", "calls")


@router.get("/{call_id}", response_model=CallStory)
async def show_call(call_id: PathName, svc: ServicesDep, who: CallReader) -> dict[str, Any]:
    """A call's whole story, from the audit log, oldest event first; `status` is
    `running` from its dispatch until it ends. A gateway acting for a chat user
    (`X-Nexflow-On-Behalf-Of`) sees only that user's calls (404 `call_not_found`)."""
    events = await call_events(svc.audit, call_id)
    if who.identity is not None and call_owner(events) != who.id:
        raise NotFound(f"no call with id {call_id!r}", code="call_not_found")
    return {"call_id": call_id, **call_summary(events), "events": events}


@router.post(
    "/{call_id}/cancel",
    response_model=CancelOut,
    responses={202: {"model": CancelOut, "description": "asked to stop; not ended yet"}},
)
async def cancel_call(
    call_id: PathName, svc: ServicesDep, who: PrincipalDep, request: Request
) -> dict[str, Any] | JSONResponse:
    """Kill a running call: the caller who started it (`calls:run`), or a token with
    `calls:cancel`. 200 with the status it ended with (`killed`, kill_reason
    `cancelled`) when it ended within a few seconds, else 202 `cancelling`; 409
    `call_not_running` (with `status`) for a call that is not running (finished, or
    waiting for approval), 404 `call_not_found`."""
    try:
        answer = await svc.calls.cancel(call_id, who)
    except InsufficientScope as exc:
        await refuse_scope(svc, request, who, exc)
        raise
    if not answer.ended:
        return JSONResponse(answer.to_dict(), status_code=202)
    return answer.to_dict()
