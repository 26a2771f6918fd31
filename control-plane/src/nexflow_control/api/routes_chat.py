"""Chat identity routes: pairing codes (`/api/v1/pairings`), and the approval buttons a
gateway shows in a chat (`/api/v1/approvals/{id}/chat-nonce`, `/press`).

| route | who |
|---|---|
| `POST /api/v1/pairings` | the gateway's token (`calls:run_as`): a code for an unknown sender |
| `GET /api/v1/pairings`, `POST .../{code}/confirm`, `.../{code}/reject` | `accounts:admin` |
| `POST /api/v1/approvals/{id}/chat-nonce` | the gateway acting for the requester |
| `POST /api/v1/approvals/{id}/press` | `approvals:relay`: a human's tap, judged by policy |
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from ..chat import relay_press
from ..errors import NotFound
from .deps import AccountsAdmin, ApprovalsRelay, CallsRunAs, RunAs, ServicesDep
from .params import PathName
from .route import edge_router
from .schemas_chat import (
    ChatNonceOut,
    PairingCode,
    PairingConfirm,
    PairingList,
    PairingOut,
    PairingRequest,
    PressOut,
    PressRequest,
)

pairings = edge_router("/api/v1/pairings", "pairings")
buttons = edge_router("/api/v1/approvals", "approvals")


@pairings.post("", response_model=PairingCode, status_code=201)
async def request_pairing(
    body: PairingRequest, svc: ServicesDep, who: CallsRunAs
) -> dict[str, Any]:
    """A pairing code for a chat sender no user is linked to: the same live code when it
    has one; 409 `identity_already_linked`, 429 `pairing_rate_limited` / `pairing_limit`."""
    found = await svc.pairings.request(body.identity, body.channel, who)
    return {
        "code": found.code,
        "identity": found.identity,
        "expires_at": found.expires_at.isoformat(),
    }


@pairings.get("", response_model=PairingList)
async def list_pairings(svc: ServicesDep, _: AccountsAdmin) -> dict[str, Any]:
    """The codes waiting for an admin, newest first."""
    return {"pairings": [p.to_dict() for p in await svc.pairings.pending()]}


@pairings.post("/{code}/confirm", response_model=PairingOut)
async def confirm_pairing(
    code: PathName, body: PairingConfirm, svc: ServicesDep, who: AccountsAdmin
) -> dict[str, Any]:
    """Link the code's identity to `user`; 404 `pairing_not_found`, 409
    `pairing_not_pending` (used, rejected or expired), 404 `user_not_found`."""
    return (await svc.pairings.confirm(code, body.user, who)).to_dict()


@pairings.post("/{code}/reject", response_model=PairingOut)
async def reject_pairing(code: PathName, svc: ServicesDep, who: AccountsAdmin) -> dict[str, Any]:
    return (await svc.pairings.reject(code, who)).to_dict()


@buttons.post("/{approval_id}/chat-nonce", response_model=ChatNonceOut, status_code=201)
async def chat_nonce(approval_id: PathName, svc: ServicesDep, who: RunAs) -> JSONResponse:
    """A one-time nonce for this approval's buttons in the chat `X-Nexflow-Channel`
    names; only for an approval of the acting user's own call (else 404)."""
    approval = await svc.approvals.get(approval_id)
    if approval.principal.get("id") != who.id:
        raise NotFound(f"no approval with id {approval_id!r}", code="approval_not_found")
    nonce = await svc.nonces.mint(approval.id, who.channel, approval.expires_at)
    body = {
        "approval_id": approval.id,
        "channel": who.channel,
        "nonce": nonce,
        "expires_at": approval.expires_at.isoformat(),
    }
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})


@buttons.post("/{approval_id}/press", response_model=PressOut)
async def press(
    approval_id: PathName, body: PressRequest, svc: ServicesDep, who: ApprovalsRelay
) -> dict[str, Any]:
    """A human pressed approve or deny in a chat: see `chat.press` for the checks and
    their codes (`identity_not_linked`, `nonce_invalid`, `nonce_used`, `policy_denied`,
    `approval_not_pending`)."""
    decided = await relay_press(
        svc.approvals,
        svc.accounts,
        svc.nonces,
        who,
        approval_id=approval_id,
        identity=body.identity,
        channel=body.channel,
        approve=body.decision == "approve",
        nonce=body.nonce,
    )
    return decided.to_dict()
