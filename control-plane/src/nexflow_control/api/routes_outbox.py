"""The chat outbox (`chat.outbox`): results of finished calls owed to a chat, for the
gateway's own token (`calls:run_as`, without `On-Behalf-Of`). Outside `/api/v1/chat/`,
whose GETs are proxied to the gateway.

| route | what |
|---|---|
| `GET /api/v1/outbox?channel=telegram&limit=` | undelivered results, oldest first |
| `POST /api/v1/outbox/{id}/ack` | delivered (idempotent); 404 `outbox_entry_not_found` |
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query

from ..chat.outbox import MAX_BATCH, ChatOutbox
from ..errors import Unavailable
from .deps import CallsRunAs, ServicesDep
from .route import edge_router
from .schemas import Answer

router = edge_router("/api/v1/outbox", "chat")


class DeliveryOut(Answer):
    id: int
    call_id: str
    channel: str
    chat: str
    text: str
    created_at: str


class OutboxOut(Answer):
    deliveries: list[DeliveryOut]


class AckOut(Answer):
    id: int
    acked: bool


def _outbox(svc: ServicesDep) -> ChatOutbox:
    if svc.calls.outbox is None:
        raise Unavailable("this control plane keeps no chat outbox", code="outbox_unavailable")
    return svc.calls.outbox


@router.get("", response_model=OutboxOut)
async def outbox(
    svc: ServicesDep,
    _: CallsRunAs,
    channel: Annotated[Literal["telegram", "discord"], Query()],
    limit: Annotated[int, Query(ge=1, le=MAX_BATCH)] = 20,
) -> dict[str, Any]:
    """The results owed to chats of `channel` that no gateway acked yet."""
    return {"deliveries": [d.to_dict() for d in await _outbox(svc).due(channel, limit)]}


@router.post("/{delivery_id}/ack", response_model=AckOut)
async def ack(
    delivery_id: Annotated[int, Path(ge=1, le=2**62)], svc: ServicesDep, _: CallsRunAs
) -> dict[str, Any]:
    """This result reached its chat; acking it again is the same answer."""
    await _outbox(svc).ack(delivery_id)
    return {"id": delivery_id, "acked": True}
